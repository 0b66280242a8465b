//! SQL dialects: which SQL a model is written in, and its translation to
//! the SQL the embedded DataFusion warehouse runs, with the source dialect's
//! semantics (sqlparser AST rewrites plus the functions in [`functions`]).
//!
//! A construct a dialect cannot run faithfully is an error naming it and its
//! position, never a silently different result.

/// The catalog an embedded warehouse attaches `--defer`'s state warehouse
/// as: relations there are `"rdbt_state"."schema"."name"`.
pub const STATE_CATALOG: &str = "rdbt_state";

pub mod analysis;
pub mod case;
pub mod functions;
mod rewrite;
pub mod types;

use datafusion::sql::sqlparser;
use sqlparser::dialect::{BigQueryDialect, DuckDbDialect, GenericDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;
use std::fmt;

/// The SQL a model is written in (`sql_dialect` config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlDialect {
    BigQuery,
    DuckDb,
    Postgres,
    /// DataFusion's own SQL: no translation.
    DataFusion,
}

impl SqlDialect {
    pub const NAMES: &[&str] = &["bigquery", "duckdb", "postgres", "datafusion"];

    /// Most local dbt projects are written for DuckDB.
    pub const DEFAULT: SqlDialect = SqlDialect::DuckDb;

    pub fn from_name(name: &str) -> Option<SqlDialect> {
        match name.to_ascii_lowercase().as_str() {
            "bigquery" => Some(SqlDialect::BigQuery),
            "duckdb" => Some(SqlDialect::DuckDb),
            "postgres" | "postgresql" => Some(SqlDialect::Postgres),
            "datafusion" => Some(SqlDialect::DataFusion),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SqlDialect::BigQuery => "bigquery",
            SqlDialect::DuckDb => "duckdb",
            SqlDialect::Postgres => "postgres",
            SqlDialect::DataFusion => "datafusion",
        }
    }

    /// Whether column names match regardless of case, quoted or not (as in
    /// DuckDB and BigQuery); DataFusion and Postgres fold unquoted names to
    /// lower case and match quoted ones exactly.
    pub fn case_insensitive_columns(self) -> bool {
        matches!(self, SqlDialect::DuckDb | SqlDialect::BigQuery)
    }

    /// How generated SQL quotes an identifier in this dialect.
    pub fn quote_identifier(self, ident: &str) -> String {
        let mut quoted = String::with_capacity(ident.len() + 2);
        self.push_quoted_identifier(&mut quoted, ident);
        quoted
    }

    /// `parts` quoted and joined by dots (`"schema"."table"`), in one string
    /// sized once: every node of a parse gets one.
    pub fn qualified_name(self, parts: &[&str]) -> String {
        let len = parts.iter().map(|p| p.len() + 3).sum();
        let mut name = String::with_capacity(len);
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                name.push('.');
            }
            self.push_quoted_identifier(&mut name, part);
        }
        name
    }

    fn push_quoted_identifier(self, out: &mut String, ident: &str) {
        let (quote, escaped) = match self {
            SqlDialect::BigQuery => ('`', "\\`"),
            _ => ('"', "\"\""),
        };
        out.push(quote);
        for (i, piece) in ident.split(quote).enumerate() {
            if i > 0 {
                out.push_str(escaped);
            }
            out.push_str(piece);
        }
        out.push(quote);
    }

    fn parser_dialect(self) -> Box<dyn sqlparser::dialect::Dialect> {
        match self {
            SqlDialect::BigQuery => Box::new(BigQueryDialect {}),
            SqlDialect::DuckDb => Box::new(DuckDbDialect {}),
            SqlDialect::Postgres => Box::new(PostgreSqlDialect {}),
            SqlDialect::DataFusion => Box::new(GenericDialect {}),
        }
    }
}

impl fmt::Display for SqlDialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why SQL could not be translated, at a 1-based line and column of the
/// SQL that was given (0 when the parser did not say).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TranslateError {
    pub message: String,
    pub line: u64,
    pub column: u64,
    pub help: Option<String>,
}

impl TranslateError {
    fn at(message: impl Into<String>, span: sqlparser::tokenizer::Span) -> Self {
        TranslateError {
            message: message.into(),
            line: span.start.line,
            column: span.start.column,
            help: None,
        }
    }

    fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Translates `sql` written in `dialect` into DataFusion SQL with the same
/// meaning. DataFusion SQL passes through unchanged.
pub fn translate(sql: &str, dialect: SqlDialect) -> Result<String, TranslateError> {
    if dialect == SqlDialect::DataFusion {
        return Ok(sql.to_string());
    }
    let parser_dialect = dialect.parser_dialect();
    let mut statements = Parser::parse_sql(parser_dialect.as_ref(), sql)
        .map_err(|e| parse_error(&e.to_string(), dialect, sql))?;
    let mut out = Vec::with_capacity(statements.len());
    for statement in &mut statements {
        rewrite::rewrite_statement(statement, dialect)?;
        out.push(statement.to_string());
    }
    Ok(out.join(";\n"))
}

/// Where the first binary operator `op` (`=`, `+`, ...) is in `sql`, as a
/// 1-based line and column: locates errors the planner reports by types.
pub fn find_binary_operator(sql: &str, dialect: SqlDialect, op: &str) -> Option<(u64, u64)> {
    use sqlparser::ast::{Expr, Spanned, Visit, Visitor};
    struct Finder<'a> {
        op: &'a str,
        found: Option<(u64, u64)>,
    }
    impl Visitor for Finder<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            if let Expr::BinaryOp { op, .. } = expr
                && op.to_string() == self.op
            {
                let span = expr.span();
                self.found = Some((span.start.line, span.start.column));
                return std::ops::ControlFlow::Break(());
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let parser_dialect = dialect.parser_dialect();
    let statements = Parser::parse_sql(parser_dialect.as_ref(), sql).ok()?;
    let mut finder = Finder { op, found: None };
    for statement in &statements {
        let _ = statement.visit(&mut finder);
        if finder.found.is_some() {
            break;
        }
    }
    finder.found
}

/// [`translate`], stopping at the AST: for planning without printing the
/// SQL and parsing it again. One statement is expected.
pub fn translate_statement(
    sql: &str,
    dialect: SqlDialect,
) -> Result<sqlparser::ast::Statement, TranslateError> {
    let parser_dialect = dialect.parser_dialect();
    let mut statements = Parser::parse_sql(parser_dialect.as_ref(), sql)
        .map_err(|e| parse_error(&e.to_string(), dialect, sql))?;
    if statements.len() != 1 {
        return Err(TranslateError {
            message: format!("expected one SQL statement, found {}", statements.len()),
            line: 0,
            column: 0,
            help: None,
        });
    }
    let mut statement = statements.remove(0);
    if dialect != SqlDialect::DataFusion {
        rewrite::rewrite_statement(&mut statement, dialect)?;
    }
    Ok(statement)
}

/// sqlparser reports "... at Line: 3, Column: 7"; keep the position apart.
fn parse_error(message: &str, dialect: SqlDialect, sql: &str) -> TranslateError {
    let mut position = regex_position(message);
    // An error at the end of the input carries no position: it is after the
    // last character of the last line that has any.
    if position == (0, 0) && message.contains("found: EOF") {
        let trimmed = sql.trim_end();
        let line = trimmed.lines().count().max(1);
        let last = trimmed.lines().last().unwrap_or_default();
        position = (line as u64, last.chars().count() as u64 + 1);
    }
    let text = message
        .split(" at Line: ")
        .next()
        .unwrap_or(message)
        .trim_start_matches("sql parser error: ")
        .to_string();
    TranslateError {
        message: format!("cannot parse the SQL as {dialect} SQL: {text}"),
        line: position.0,
        column: position.1,
        help: Some(format!(
            "fix the SQL, or set `sql_dialect` to the dialect it is written in (one of {})",
            SqlDialect::NAMES.join(", ")
        )),
    }
}

fn regex_position(message: &str) -> (u64, u64) {
    let number_after = |label: &str| -> u64 {
        message
            .split(label)
            .nth(1)
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (number_after("Line: "), number_after("Column: "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bq(sql: &str) -> String {
        translate(sql, SqlDialect::BigQuery).expect("translates")
    }

    #[test]
    fn identifiers_are_quoted_with_their_quote_doubled_or_escaped() {
        assert_eq!(
            SqlDialect::DataFusion.quote_identifier("a\"b"),
            "\"a\"\"b\""
        );
        assert_eq!(
            SqlDialect::Postgres.quote_identifier("\"\""),
            "\"\"\"\"\"\""
        );
        assert_eq!(SqlDialect::BigQuery.quote_identifier("a`b"), "`a\\`b`");
        assert_eq!(SqlDialect::BigQuery.quote_identifier(""), "``");
        assert_eq!(
            SqlDialect::BigQuery.qualified_name(&["p", "d`s", "t"]),
            "`p`.`d\\`s`.`t`"
        );
        assert_eq!(
            SqlDialect::DuckDb.qualified_name(&["main", "x\"y"]),
            "\"main\".\"x\"\"y\""
        );
    }

    #[test]
    fn datafusion_sql_is_untouched() {
        let sql = "select \"a\" from t -- comment";
        assert_eq!(translate(sql, SqlDialect::DataFusion), Ok(sql.to_string()));
    }

    #[test]
    fn bigquery_names_and_casts() {
        assert_eq!(
            bq("SELECT SAFE_CAST(x AS FLOAT64) FROM `proj.ds.t`"),
            "SELECT TRY_CAST(x AS DOUBLE) AS f0_ FROM \"ds\".\"t\""
        );
        // INT64 rounds halves away from zero, as BigQuery does.
        assert_eq!(
            bq("SELECT SAFE_CAST(x AS INT64) AS n FROM `proj.ds.t`"),
            "SELECT bq_int64(x, true) AS n FROM \"ds\".\"t\""
        );
        assert_eq!(
            bq("SELECT IF(a > 1, 'y', 'n') AS f FROM `ds`.`t`"),
            "SELECT CASE WHEN a > 1 THEN 'y' ELSE 'n' END AS f FROM \"ds\".\"t\""
        );
    }

    #[test]
    fn unsupported_constructs_name_themselves_and_their_position() {
        let err = translate(
            "SELECT\n  x\nFROM t, UNNEST(t.arr) AS a WITH OFFSET AS o",
            SqlDialect::BigQuery,
        )
        .expect_err("unsupported");
        assert!(err.message.contains("WITH OFFSET"), "{}", err.message);
        assert_eq!(err.line, 3);
    }

    #[test]
    fn an_error_at_the_end_is_placed_after_the_last_character() {
        for dialect in [
            SqlDialect::DataFusion,
            SqlDialect::DuckDb,
            SqlDialect::BigQuery,
        ] {
            let err =
                translate_statement("select 1 as a,\n  2 as b from\n\n", dialect).expect_err("bad");
            assert_eq!((err.line, err.column), (2, 14), "{dialect}: {err:?}");
        }
    }

    #[test]
    fn parse_errors_keep_their_position() {
        let err =
            translate("SELECT\n  x\nFROM t WHERE ) z", SqlDialect::BigQuery).expect_err("bad");
        assert_eq!(err.line, 3, "{err:?}");
        assert!(
            err.message
                .starts_with("cannot parse the SQL as bigquery SQL")
        );
    }
}
