//! terraform/ (issue 8) parsed with a Rust HCL parser and checked against
//! the project: the land bucket's prefixes match the profiles' `land`, the
//! datasets match the prod dataset and the layers' schemas, and every
//! source table of project/sources.yml has its dataset and external table
//! over its land folder.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every .tf file merged: blocks of the same kind side by side.
fn terraform() -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("terraform"))
        .expect("terraform/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            hcl::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()))
        })
        .collect()
}

fn find<'a>(files: &'a [Value], path: &[&str]) -> &'a Value {
    files
        .iter()
        .map(|f| path.iter().fold(f, |v, k| &v[*k]))
        .find(|v| !v.is_null())
        .unwrap_or_else(|| panic!("terraform has no {}", path.join(".")))
}

fn locals(files: &[Value]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for f in files {
        match &f["locals"] {
            Value::Array(blocks) => blocks
                .iter()
                .filter_map(Value::as_object)
                .for_each(|o| out.extend(o.clone())),
            Value::Object(o) => out.extend(o.clone()),
            _ => {}
        }
    }
    out
}

fn yaml(path: &str) -> Yaml {
    let text = std::fs::read_to_string(root().join(path)).expect("read yaml");
    YamlLoader::load_from_str(&text).expect("yaml").remove(0)
}

#[test]
fn terraform_names_agree_with_the_profiles_and_the_sources() {
    let tf = terraform();
    let profiles = yaml("profiles.yml");
    let outputs = &profiles["retention"]["outputs"];

    // The land: gs://<RDBT_LAND_BUCKET>/land in both BigQuery targets, the
    // bucket terraform creates, its lifecycle rules on the same prefixes.
    let bucket = find(&tf, &["resource", "google_storage_bucket", "land"]);
    assert_eq!(bucket["name"], "${var.land_bucket_name}");
    let description = find(&tf, &["variable", "land_bucket_name", "description"]);
    assert!(
        description
            .as_str()
            .is_some_and(|d| d.contains("RDBT_LAND_BUCKET"))
    );
    for target in ["dev", "prod"] {
        assert_eq!(
            outputs[target]["land"].as_str(),
            Some("gs://{{ env_var('RDBT_LAND_BUCKET') }}/land"),
            "profiles.yml {target}.land"
        );
    }
    let prefixes: BTreeSet<String> = bucket["lifecycle_rule"]
        .as_array()
        .expect("lifecycle rules")
        .iter()
        .flat_map(|r| {
            r["condition"]["matches_prefix"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    assert_eq!(
        prefixes,
        BTreeSet::from(["land/".to_string(), "land/_quarantine/".to_string()])
    );

    // Datasets: the prod dataset, and one per custom schema of the layers.
    let base = find(&tf, &["variable", "base_dataset", "default"]);
    assert_eq!(base.as_str(), outputs["prod"]["dataset"].as_str());
    let project = yaml("project/rdbt_project.yml");
    let mut schemas = BTreeSet::new();
    if let Yaml::Hash(layers) = &project["models"]["retention"] {
        for config in layers.values() {
            if let Some(s) = config["+schema"].as_str() {
                schemas.insert(s.to_string());
            }
        }
    }
    let locals = locals(&tf);
    let layers: BTreeSet<String> = locals["layers"]
        .as_array()
        .expect("local.layers")
        .iter()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect();
    assert_eq!(
        layers, schemas,
        "terraform local.layers vs the project's +schema"
    );
    let seed_schema = project["seeds"]["retention"]["+schema"]
        .as_str()
        .expect("seed schema");
    assert!(layers.contains(seed_schema));
    assert_eq!(
        find(
            &tf,
            &["resource", "google_bigquery_dataset", "layer", "dataset_id"]
        ),
        "${var.base_dataset}_${each.key}"
    );

    // Sources: a dataset per source and an external table per table, over
    // the table's land folder.
    let sources = yaml("project/sources.yml");
    let mut declared = BTreeSet::new();
    for source in sources["sources"].as_vec().expect("sources") {
        let name = source["name"].as_str().expect("source name");
        for table in source["tables"].as_vec().expect("tables") {
            declared.insert(format!(
                "{name}.{}",
                table["name"].as_str().expect("table name")
            ));
        }
    }
    let tables = locals["source_tables"]
        .as_object()
        .expect("local.source_tables");
    assert_eq!(tables.keys().cloned().collect::<BTreeSet<_>>(), declared);
    for (key, t) in tables {
        let (source, table) = key.split_once('.').expect("source.table");
        assert_eq!(t["dataset"], source);
        assert_eq!(t["table"], table);
    }
    let external = find(
        &tf,
        &[
            "resource",
            "google_bigquery_table",
            "source",
            "external_data_configuration",
        ],
    );
    assert_eq!(
        external["hive_partitioning_options"]["source_uri_prefix"],
        "gs://${google_storage_bucket.land.name}/land/${each.value.dataset}/${each.value.table}/"
    );
    assert_eq!(external["source_format"], "PARQUET");
}
