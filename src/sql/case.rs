//! Column names resolved as DuckDB and BigQuery resolve them: regardless of
//! case, quoted or not. DataFusion folds unquoted identifiers to lower case
//! and matches exactly, so `select CustomerName from seed` misses a seed
//! column spelled `CustomerName`, and `"id"` misses `Id`.
//!
//! Before planning, each column reference that would match nothing exactly
//! but matches one column of the relations it reads (or one alias of the
//! statement) regardless of case is spelled as that column, quoted. A name
//! that matches exactly, or that two columns spell differently, is left to
//! the planner, so valid DataFusion SQL plans exactly as before.

use datafusion::common::Result;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, JoinConstraint, ObjectNamePart, Query, Select, SelectItem, Statement, TableFactor,
    VisitMut, Visitor, VisitorMut,
};
use std::collections::HashMap;
use std::ops::ControlFlow;

/// Every column name a statement can see, by its lower-case form.
#[derive(Debug, Default)]
pub struct ColumnNames {
    spellings: HashMap<String, Vec<String>>,
}

impl ColumnNames {
    pub fn add(&mut self, name: &str) {
        let spellings = self.spellings.entry(name.to_lowercase()).or_default();
        if !spellings.iter().any(|s| s == name) {
            spellings.push(name.to_string());
        }
    }

    /// The spelling `ident` stands for, when it is not already spelled so.
    fn respelling(&self, ident: &Ident) -> Option<&str> {
        let spellings = self.spellings.get(&ident.value.to_lowercase())?;
        let as_planned = planned_name(ident);
        match spellings.as_slice() {
            [only] if *only != as_planned => Some(only),
            _ => None,
        }
    }
}

/// The name DataFusion looks up for `ident` (it folds unquoted ones).
fn planned_name(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

/// Respells the column references of `statement` that match `columns` only
/// regardless of case; the statement's own aliases count as columns.
/// Returns whether anything changed.
pub fn resolve_column_case(statement: &mut Statement, mut columns: ColumnNames) -> bool {
    let mut aliases = Aliases(&mut columns);
    let _ = datafusion::sql::sqlparser::ast::Visit::visit(&*statement, &mut aliases);
    let mut respeller = Respeller {
        columns: &columns,
        changed: false,
    };
    let _ = statement.visit(&mut respeller);
    respeller.changed
}

/// Collects the names a statement gives its outputs: select aliases, CTE
/// and derived-table column lists.
struct Aliases<'a>(&'a mut ColumnNames);

impl Visitor for Aliases<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                for column in &cte.alias.columns {
                    self.0.add(&planned_name(&column.name));
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        for item in &select.projection {
            if let SelectItem::ExprWithAlias { alias, .. } = item {
                self.0.add(&planned_name(alias));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let alias = match factor {
            TableFactor::Table { alias, .. }
            | TableFactor::Derived { alias, .. }
            | TableFactor::Function { alias, .. }
            | TableFactor::UNNEST { alias, .. } => alias.as_ref(),
            _ => None,
        };
        for column in alias.map(|a| a.columns.as_slice()).unwrap_or_default() {
            self.0.add(&planned_name(&column.name));
        }
        ControlFlow::Continue(())
    }
}

struct Respeller<'a> {
    columns: &'a ColumnNames,
    changed: bool,
}

impl Respeller<'_> {
    fn respell(&mut self, ident: &mut Ident) {
        if let Some(spelling) = self.columns.respelling(ident) {
            *ident = Ident::with_quote('"', spelling);
            self.changed = true;
        }
    }

    fn respell_name(&mut self, name: &mut datafusion::sql::sqlparser::ast::ObjectName) {
        if let [ObjectNamePart::Identifier(ident)] = name.0.as_mut_slice() {
            self.respell(ident);
        }
    }
}

impl VisitorMut for Respeller<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(ident) => self.respell(ident),
            // `t.Name`: the last part is the column (a struct field after a
            // column is left alone unless it, too, is spelled as a column).
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                if let Some(last) = parts.last_mut() {
                    self.respell(last);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for table in &mut select.from {
            for join in &mut table.joins {
                use datafusion::sql::sqlparser::ast::JoinOperator as J;
                let constraint = match &mut join.join_operator {
                    J::Join(c)
                    | J::Inner(c)
                    | J::Left(c)
                    | J::LeftOuter(c)
                    | J::Right(c)
                    | J::RightOuter(c)
                    | J::FullOuter(c)
                    | J::Semi(c)
                    | J::LeftSemi(c)
                    | J::RightSemi(c)
                    | J::Anti(c)
                    | J::LeftAnti(c)
                    | J::RightAnti(c) => c,
                    _ => continue,
                };
                if let JoinConstraint::Using(names) = constraint {
                    for name in names {
                        self.respell_name(name);
                    }
                }
            }
        }
        for item in &mut select.projection {
            let options = match item {
                SelectItem::Wildcard(o) | SelectItem::QualifiedWildcard(_, o) => o,
                _ => continue,
            };
            use datafusion::sql::sqlparser::ast::ExcludeSelectItem as X;
            match &mut options.opt_exclude {
                Some(X::Single(name)) => self.respell_name(name),
                Some(X::Multiple(names)) => names.iter_mut().for_each(|n| self.respell_name(n)),
                None => {}
            }
        }
        ControlFlow::Continue(())
    }
}

/// Plans `statement` in `state`; with `case_insensitive`, column names are
/// first resolved regardless of case against the relations it reads.
/// Returns the plan and, when names were respelled, the statement as run.
pub async fn plan_statement(
    state: &SessionState,
    mut statement: DfStatement,
    case_insensitive: bool,
) -> Result<(LogicalPlan, Option<String>)> {
    let mut respelled = None;
    if case_insensitive {
        let references = state.resolve_table_references(&statement)?;
        let mut columns = ColumnNames::default();
        for reference in references {
            let table = reference.table().to_string();
            if let Ok(schema) = state.schema_for_ref(reference)
                && let Ok(Some(provider)) = schema.table(&table).await
            {
                for field in provider.schema().fields() {
                    columns.add(field.name());
                }
            }
        }
        if let DfStatement::Statement(inner) = &mut statement
            && resolve_column_case(inner, columns)
        {
            respelled = Some(inner.to_string());
        }
    }
    Ok((state.statement_to_plan(statement).await?, respelled))
}

/// [`plan_statement`] for SQL text in DataFusion's dialect.
pub async fn plan_sql(
    state: &SessionState,
    sql: &str,
    case_insensitive: bool,
) -> Result<(LogicalPlan, Option<String>)> {
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state.sql_to_statement(sql, &dialect)?;
    plan_statement(state, statement, case_insensitive).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn respell(sql: &str, columns: &[&str]) -> String {
        let mut statement = Parser::parse_sql(&GenericDialect {}, sql)
            .expect("parses")
            .remove(0);
        let mut names = ColumnNames::default();
        for c in columns {
            names.add(c);
        }
        resolve_column_case(&mut statement, names);
        statement.to_string()
    }

    #[test]
    fn names_match_a_column_regardless_of_case() {
        assert_eq!(
            respell(
                "SELECT id, customername, \"customerName\" AS cn, p.ID FROM people AS p WHERE Id > 0",
                &["Id", "CustomerName"]
            ),
            "SELECT \"Id\", \"CustomerName\", \"CustomerName\" AS cn, p.\"Id\" FROM people AS p WHERE \"Id\" > 0"
        );
    }

    #[test]
    fn exact_and_ambiguous_names_are_left_to_the_planner() {
        // Exact under DataFusion's folding: untouched.
        assert_eq!(
            respell("SELECT Name, \"Name\" FROM t", &["name", "Name"]),
            "SELECT Name, \"Name\" FROM t"
        );
        // `NAME` could be either column: the planner reports it.
        assert_eq!(
            respell("SELECT \"NAME\" FROM t", &["name", "Name"]),
            "SELECT \"NAME\" FROM t"
        );
        // Not a column at all: untouched.
        assert_eq!(respell("SELECT nope FROM t", &["Id"]), "SELECT nope FROM t");
    }

    #[test]
    fn the_statement_aliases_count_as_columns() {
        assert_eq!(
            respell(
                "WITH a AS (SELECT x AS \"Total\" FROM t) SELECT total, \"TOTAL\" FROM a",
                &["x"]
            ),
            "WITH a AS (SELECT x AS \"Total\" FROM t) SELECT \"Total\", \"Total\" FROM a"
        );
    }

    #[test]
    fn using_and_exclude_lists_are_respelled() {
        assert_eq!(
            respell(
                "SELECT * EXCLUDE (name) FROM a JOIN b USING (id)",
                &["ID", "Name"]
            ),
            "SELECT * EXCLUDE (\"Name\") FROM a JOIN b USING(\"ID\")"
        );
    }
}
