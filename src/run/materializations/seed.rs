//! Seeds: a CSV file loaded into a table, types inferred as a local build
//! infers them and `column_types` applied.

use super::{Failed, NodeRun, Outcome};
use crate::adapters::SeedFile;
use crate::run::error::RunError;

pub(super) async fn build(run: &NodeRun<'_>) -> Outcome {
    let node = run.node;
    let seed = SeedFile {
        path: &node.abs_path,
        delimiter: node.seed_delimiter(),
        column_types: node.seed_column_types(),
        empty: run.run_options().empty,
    };
    let response = run
        .adapter
        .load_seed(&run.relation(), &seed)
        .await
        .map_err(|e| {
            let text = match &e.help {
                Some(h) => format!("{}\n  help: {h}", e.message),
                None => e.message.clone(),
            };
            Failed::from(RunError::Warehouse(seed_error(node, &text)))
        })?;
    Ok(run.success(response))
}

/// CSV errors name a line; say it as `file:line`.
fn seed_error(node: &crate::compile::ParsedNode, message: &str) -> String {
    // The reader's own framing ("Error when processing CSV file <path>
    // caused by Arrow error: Csv error: ...") says nothing the file:line
    // prefix does not.
    let message = match message.rfind("Csv error: ") {
        Some(at) => &message[at + "Csv error: ".len()..],
        None => message,
    };
    if let Some(c) = regex::Regex::new(r"Expected (\d+) records, found (\d+) records at line (\d+)")
        .ok()
        .and_then(|re| re.captures(message))
    {
        return format!(
            "{}:{}: this row has {} values, but the header names {} columns\n  fix that row of the seed file (a missing value, or a comma inside an unquoted value)",
            node.original_file_path, &c[3], &c[2], &c[1]
        );
    }
    let line = regex::Regex::new(r"line (\d+)")
        .ok()
        .and_then(|re| re.captures(message))
        .and_then(|c| c[1].parse::<usize>().ok());
    match line {
        Some(l) => format!(
            "{}:{}: {message}\n  fix that row of the seed file, or set column_types for it",
            node.original_file_path, l
        ),
        None => format!("{}: {message}", node.original_file_path),
    }
}
