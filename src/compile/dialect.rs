//! Which SQL dialect a node is written in, and the SQL the warehouse runs
//! for it: on the embedded warehouse, the node's SQL translated from its
//! dialect (see `sql/`); on BigQuery, the SQL as compiled.

use super::world::World;
use crate::diagnostics::{Diagnostic, Location, codes};
use crate::project::config::Config;
use crate::settings::TargetKind;
use crate::sql::SqlDialect;
use std::path::Path;

/// A node's `sql_dialect` config value (already validated at parse), else
/// the project's dialect.
pub fn sql_dialect_in(world: &World, configured: Option<&serde_json::Value>) -> SqlDialect {
    if world.target_kind == TargetKind::BigQuery {
        return SqlDialect::BigQuery;
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
    if world.target_kind != TargetKind::DataFusion {
        return Ok(sql.to_string());
    }
    crate::sql::translate(sql, dialect).map_err(|e| {
        let compiled_line = sql
            .lines()
            .nth(usize::try_from(e.line).unwrap_or(0).saturating_sub(1))
            .unwrap_or("")
            .trim();
        let source_line = (!compiled_line.is_empty())
            .then(|| {
                raw_code
                    .lines()
                    .position(|l| l.trim() == compiled_line)
                    .map(|i| i + 1)
            })
            .flatten();
        let (line, note) = match source_line {
            Some(l) => (l, String::new()),
            None if e.line > 0 => (
                1,
                format!(
                    " (line {}, column {} of the compiled SQL)",
                    e.line, e.column
                ),
            ),
            None => (1, String::new()),
        };
        let column = if source_line.is_some() {
            usize::try_from(e.column).unwrap_or(1).max(1)
        } else {
            1
        };
        let mut d = Diagnostic::error(codes::SQL_DIALECT, format!("{}{note}", e.message))
            .at(Location::new(path, line, column), Some(raw_code));
        if let Some(help) = e.help {
            d = d.with_help(help);
        }
        d
    })
}
