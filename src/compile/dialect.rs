//! Which SQL dialect a node is written in, and the SQL the warehouse runs
//! for it: on the embedded warehouse, the node's SQL translated from its
//! dialect (see `sql/`); on BigQuery, the SQL as compiled.

use super::world::World;
use crate::diagnostics::{Diagnostic, Location, codes};
use crate::project::config::Config;
use crate::sql::SqlDialect;
use std::path::Path;

/// A node's `sql_dialect` config value (already validated at parse), else
/// the project's dialect.
pub fn sql_dialect_in(world: &World, configured: Option<&serde_json::Value>) -> SqlDialect {
    if let Some(native) = world.target_kind.native_sql_dialect() {
        return native;
    }
    configured
        .and_then(|v| v.as_str())
        .and_then(SqlDialect::from_name)
        .unwrap_or(world.sql_dialect)
}

pub fn sql_dialect_of(world: &World, config: &Config) -> SqlDialect {
    sql_dialect_in(world, config.get("sql_dialect"))
}

/// The SQL to execute for SQL compiled from the node at `path` (whose
/// source is `raw_code`). A construct the dialect cannot run faithfully is
/// reported at its line in the node's own file when that line can be found
/// there, else at the line of the compiled SQL.
pub fn executable_sql(
    world: &World,
    dialect: SqlDialect,
    sql: &str,
    path: &Path,
    raw_code: &str,
) -> Result<String, Diagnostic> {
    // A warehouse with one native dialect runs the SQL as compiled.
    if world.target_kind.native_sql_dialect().is_some() {
        return Ok(sql.to_string());
    }
    crate::sql::translate(sql, dialect).map_err(|e| sql_error(e, sql, path, raw_code))
}

/// A SQL error as a diagnostic at its line in the node's own file when that
/// line can be found there, else at the line of the compiled SQL.
pub fn sql_error(
    e: crate::sql::TranslateError,
    sql: &str,
    path: &Path,
    raw_code: &str,
) -> Diagnostic {
    {
        let (line, column, note) = match source_position(sql, e.line, e.column, raw_code) {
            Some((l, c)) => (l, c, String::new()),
            None if e.line > 0 => (
                1,
                1,
                format!(
                    " (line {}, column {} of the compiled SQL)",
                    e.line, e.column
                ),
            ),
            None => (1, 1, String::new()),
        };
        let mut d = Diagnostic::error(codes::SQL_DIALECT, format!("{}{note}", e.message))
            .at(Location::new(path, line, column), Some(raw_code));
        if let Some(help) = e.help {
            d = d.with_help(help);
        }
        d
    }
}

/// A position in compiled SQL as a position in the source it was rendered
/// from: the source line with the same text (Jinja rarely touches the line
/// an error is on), the column shifted by the difference in indentation.
pub fn source_position(
    compiled: &str,
    line: u64,
    column: u64,
    source: &str,
) -> Option<(usize, usize)> {
    let index = usize::try_from(line).ok()?.checked_sub(1)?;
    let compiled_line = compiled.lines().nth(index)?;
    let text = compiled_line.trim();
    if text.is_empty() {
        return None;
    }
    let column = usize::try_from(column).ok()?;
    if let Some(found) = source.lines().position(|l| l.trim() == text) {
        let source_line = source.lines().nth(found)?;
        let indent = |l: &str| l.len() - l.trim_start().len();
        let column = (column + indent(source_line))
            .saturating_sub(indent(compiled_line))
            .max(1);
        return Some((found + 1, column));
    }
    // Jinja changed the line (a ref() on it): find the text from the error
    // onwards instead.
    let rest: String = compiled_line
        .get(column.saturating_sub(1)..)?
        .chars()
        .take(24)
        .collect();
    let rest = rest.trim_end();
    if rest.len() < 4 {
        return None;
    }
    source
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find(rest).map(|at| (i + 1, at + 1)))
}
