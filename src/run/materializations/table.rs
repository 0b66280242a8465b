//! `table` (and `materialized_view`, built as a table): the model's rows
//! replace the table in one write.

use super::{NodeRun, Outcome};
use crate::adapters::WriteStrategy;

pub(super) async fn build(run: &NodeRun<'_>, sql: &str) -> Outcome {
    let response = run
        .adapter
        .write_table(&run.relation(), sql, &WriteStrategy::Replace)
        .await
        .map_err(|e| run.failed(sql, e))?;
    Ok(run.success(response))
}
