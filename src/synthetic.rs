//! Synthetic projects for benchmarks and scale tests: N models, each reading
//! 1 to 3 earlier models, calling a macro and `config()`, with a Jinja loop
//! and two column tests in YAML. Deterministic for a given size and seed.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::rng::Rng;

/// How big and how wired a synthetic project is.
#[derive(Debug, Clone, Copy)]
pub struct SyntheticSpec {
    pub models: usize,
    pub models_per_folder: usize,
    pub seed: u64,
}

impl SyntheticSpec {
    pub fn new(models: usize) -> Self {
        SyntheticSpec {
            models,
            models_per_folder: 500,
            seed: 42,
        }
    }
}

/// Writes the project into `dir` (which should be empty).
pub fn write_project(dir: &Path, spec: SyntheticSpec) -> io::Result<()> {
    let mut rng = Rng(spec.seed);
    std::fs::create_dir_all(dir.join("models"))?;
    std::fs::create_dir_all(dir.join("macros"))?;
    std::fs::create_dir_all(dir.join("seeds"))?;
    std::fs::write(
        dir.join("rdbt_project.yml"),
        "name: synthetic\nvars:\n  factor: 3\nmodels:\n  synthetic:\n    +materialized: view\n",
    )?;
    std::fs::write(
        dir.join("macros/helpers.sql"),
        "{% macro scaled(column, factor) -%}\n    ({{ column }} * {{ factor }})\n{%- endmacro %}\n",
    )?;
    std::fs::write(dir.join("seeds/base.csv"), "id,value\n1,10\n2,20\n3,30\n")?;
    let folders = spec.models.div_ceil(spec.models_per_folder.max(1));
    for folder in 0..folders {
        let folder_dir = dir.join("models").join(format!("layer_{folder:03}"));
        std::fs::create_dir_all(&folder_dir)?;
        let mut yaml = String::from("version: 2\nmodels:\n");
        let start = folder * spec.models_per_folder;
        let end = (start + spec.models_per_folder).min(spec.models);
        for i in start..end {
            let name = format!("model_{i:06}");
            let parents: Vec<String> = if i == 0 {
                Vec::new()
            } else {
                let n = 1 + rng.below(3) as usize;
                let mut p: Vec<String> = (0..n)
                    .map(|_| format!("model_{:06}", rng.below(i as u64)))
                    .collect();
                p.sort();
                p.dedup();
                p
            };
            let materialized = if i % 10 == 0 { "table" } else { "view" };
            let mut sql = String::new();
            let _ = writeln!(
                sql,
                "{{{{ config(materialized='{materialized}', tags=['synthetic', 'layer_{folder}']) }}}}"
            );
            let _ = writeln!(sql, "with");
            let sources: Vec<String> = if parents.is_empty() {
                vec!["__seed".into()]
            } else {
                parents.clone()
            };
            for (k, p) in sources.iter().enumerate() {
                let rel = if p == "__seed" {
                    "{{ ref('base') }}".to_string()
                } else {
                    format!("{{{{ ref('{p}') }}}}")
                };
                let comma = if k + 1 < sources.len() { "," } else { "" };
                let _ = writeln!(sql, "  p{k} as (select id, value from {rel}){comma}");
            }
            let _ = writeln!(sql, "select\n  p0.id,");
            let _ = writeln!(
                sql,
                "  {{{{ scaled('p0.value', var('factor')) }}}} as value,"
            );
            let _ = writeln!(
                sql,
                "  {{% for bucket in ['a', 'b', 'c'] %}}'{{{{ bucket }}}}' as bucket_{{{{ bucket }}}},\n  {{% endfor %}}"
            );
            let _ = writeln!(sql, "  {i} as model_number");
            let _ = write!(sql, "from p0");
            for k in 1..sources.len() {
                let _ = write!(sql, "\njoin p{k} on p{k}.id = p0.id");
            }
            sql.push('\n');
            std::fs::write(folder_dir.join(format!("{name}.sql")), sql)?;
            let _ = writeln!(
                yaml,
                "  - name: {name}\n    description: Synthetic model number {i}.\n    columns:\n      - name: id\n        data_tests: [not_null]\n      - name: value\n        data_tests: [not_null]"
            );
        }
        std::fs::write(folder_dir.join("schema.yml"), yaml)?;
    }
    Ok(())
}
