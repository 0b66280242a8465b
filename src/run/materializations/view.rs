//! `view`: the model's SQL stored as a view, replacing whatever relation
//! had the name.

use super::{NodeRun, Outcome};

pub(super) async fn build(run: &NodeRun<'_>, sql: &str) -> Outcome {
    let response = run
        .adapter
        .create_view(&run.relation(), sql)
        .await
        .map_err(|e| run.failed(sql, e))?;
    Ok(run.success(response))
}
