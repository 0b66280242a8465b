//! `test_only`: the model's rows as a table `<name>__rows` and the model a
//! view over it. It exists to show (and test) that a materialization is
//! one file and one enum variant: it uses only the Adapter, so it builds on
//! every warehouse.

use super::{NodeRun, Outcome};
use crate::adapters::{RelationOptions, WriteStrategy};

pub(super) async fn build(run: &NodeRun<'_>, sql: &str) -> Outcome {
    let rows_name = format!("{}__rows", run.node.alias);
    let options = RelationOptions::default();
    let rows = run.relation_named(&run.node.schema, &rows_name, &options);
    let written = run
        .adapter
        .write_table(&rows, sql, &WriteStrategy::Replace)
        .await
        .map_err(|e| run.failed(sql, e))?;
    let over = format!(
        "select * from {}",
        run.adapter.relation(&run.node.schema, &rows_name)
    );
    run.adapter
        .create_view(&run.relation(), &over)
        .await
        .map_err(|e| run.failed(&over, e))?;
    Ok(run.success(written))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The project: a `test_only` model, a model reading it, and tests
    /// that the rows table and the view over it hold the rows.
    fn project(profiles: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            (
                "rdbt_project.yml",
                "name: demo\nprofile: demo\nmodel-paths: [models]\n",
            ),
            ("profiles.yml", profiles),
            (
                "models/m.sql",
                "{{ config(materialized='test_only') }}\nselect 1 as id union all select 2 as id\n",
            ),
            (
                "models/n.sql",
                "{{ config(materialized='table') }}\nselect count(*) as n from {{ ref('m') }}\n",
            ),
            (
                "tests/rows_and_view.sql",
                "select n from {{ ref('n') }} where n <> 2\nunion all\nselect c from (select count(*) as c from {{ target.schema }}.m__rows) as t where c <> 2\n",
            ),
        ];
        for (path, text) in files {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        dir
    }

    fn build(dir: &Path, target: &str) -> u8 {
        let d = dir.to_string_lossy().to_string();
        crate::cli::run(
            [
                "rdbt",
                "build",
                "--project-dir",
                &d,
                "--profiles-dir",
                &d,
                "--target",
                target,
            ]
            .iter()
            .map(Into::into)
            .collect(),
        )
    }

    fn statuses(dir: &Path) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(dir.join("target/run_results.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut out: Vec<(String, String)> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["unique_id"].as_str().unwrap().to_string(),
                    r["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn expected() -> Vec<(String, String)> {
        vec![
            ("model.demo.m".into(), "success".into()),
            ("model.demo.n".into(), "success".into()),
            ("test.demo.rows_and_view".into(), "pass".into()),
        ]
    }

    /// #30's acceptance: a materialization added as one file and one enum
    /// variant builds on the embedded warehouse...
    #[test]
    fn a_new_materialization_builds_on_the_embedded_warehouse() {
        let dir = project(
            "demo:\n  target: local\n  outputs:\n    local:\n      type: datafusion\n      schema: analytics\n",
        );
        assert_eq!(build(dir.path(), "local"), 0);
        assert_eq!(statuses(dir.path()), expected());
        // A second build replaces both relations.
        assert_eq!(build(dir.path(), "local"), 0);
        assert_eq!(statuses(dir.path()), expected());
    }

    /// ...and on BigQuery (the emulator `.ci/run` starts).
    #[test]
    fn a_new_materialization_builds_on_bigquery() {
        let Some(url) = std::env::var("RDBT_TEST_BIGQUERY_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "RDBT_TEST_BIGQUERY_URL is not set; .ci/run starts the emulator"
            );
            eprintln!("SKIPPED: set RDBT_TEST_BIGQUERY_URL to build on a BigQuery emulator");
            return;
        };
        let project_id = format!("rdbt-new-{}", uuid::Uuid::new_v4().simple());
        let dir = project(&format!(
            "demo:\n  target: emu\n  outputs:\n    emu:\n      type: bigquery\n      method: oauth-secrets\n      token: t\n      project: {project_id}\n      dataset: analytics\n      api_endpoint: {url}\n      threads: 1\n"
        ));
        assert_eq!(build(dir.path(), "emu"), 0);
        assert_eq!(statuses(dir.path()), expected());
    }
}
