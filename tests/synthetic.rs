//! The synthetic project generator used by the benchmarks makes a valid
//! project: it parses, and its graph has the promised shape.

mod common;

#[test]
fn synthetic_project_parses_with_the_promised_shape() {
    let dir = tempfile::tempdir().expect("dir");
    rdbt::synthetic::write_project(
        dir.path(),
        rdbt::synthetic::SyntheticSpec {
            models: 1200,
            models_per_folder: 500,
            seed: 7,
        },
    )
    .expect("generate");
    let run = common::rdbt(dir.path(), &["parse"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("Found 1200 models, 1 seed, 2400 data tests"),
        "{}",
        run.stdout
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("target/manifest.json")).expect("manifest"),
    )
    .expect("json");
    // Nodes are serialized in parallel chunks of 256: every one of the
    // 3,601 is there, once, and the joined chunks are valid JSON (above).
    let nodes = manifest["nodes"].as_object().expect("nodes");
    assert_eq!(nodes.len(), 1200 + 2400 + 1);
    let parents = manifest["parent_map"].as_object().expect("parent_map");
    for (id, p) in parents
        .iter()
        .filter(|(id, _)| id.starts_with("model.") && id.as_str() != "model.synthetic.model_000000")
    {
        let n = p.as_array().expect("list").len();
        assert!((1..=3).contains(&n), "{id} has {n} parents");
    }
    let m = &manifest["nodes"]["model.synthetic.model_000010"];
    assert_eq!(m["config"]["materialized"], "table");
    assert!(
        m["depends_on"]["macros"]
            .as_array()
            .expect("macros")
            .iter()
            .any(|x| x == "macro.synthetic.scaled")
    );
}
