//! `rdbt init NAME`: a small project that parses, compiles and builds as it is.

use crate::cli::EXIT_OK;
use crate::cli::args::{GlobalArgs, InitArgs};
use crate::cli::session::{Failure, early_printer};
use crate::diagnostics::{Diagnostic, codes};
use std::path::Path;

const FILES: &[(&str, &str)] = &[
    (
        "rdbt_project.yml",
        "name: {{name}}\nversion: '1.0.0'\nprofile: {{name}}\n\nmodel-paths: [models]\nseed-paths: [seeds]\nmacro-paths: [macros]\ntest-paths: [tests]\nsnapshot-paths: [snapshots]\n\nclean-targets: [target, dbt_packages]\n\nmodels:\n  {{name}}:\n    +materialized: view\n    marts:\n      +materialized: table\n",
    ),
    (
        "profiles.yml",
        "{{name}}:\n  target: local\n  outputs:\n    local:\n      type: datafusion\n      path: target/warehouse\n      schema: main\n      threads: 4\n",
    ),
    (
        "seeds/customers.csv",
        "customer_id,name,signup_date\n1,Ada,2024-01-05\n2,Grace,2024-02-11\n3,Linus,2024-03-20\n",
    ),
    (
        "models/staging/stg_customers.sql",
        "select\n    customer_id,\n    name,\n    cast(signup_date as date) as signup_date\nfrom {{ ref('customers') }}\n",
    ),
    (
        "models/marts/customer_summary.sql",
        "select\n    {{ month_of('signup_date') }} as signup_month,\n    count(*) as customers\nfrom {{ ref('stg_customers') }}\ngroup by 1\n",
    ),
    (
        "macros/month_of.sql",
        "{% macro month_of(column) -%}\n    date_trunc('month', {{ column }})\n{%- endmacro %}\n",
    ),
    (
        "models/schema.yml",
        "version: 2\n\nmodels:\n  - name: stg_customers\n    description: One row per customer.\n    columns:\n      - name: customer_id\n        description: The customer's id.\n        data_tests: [unique, not_null]\n  - name: customer_summary\n    description: Customers by signup month.\n",
    ),
    ("tests/.gitkeep", ""),
    ("snapshots/.gitkeep", ""),
    (".gitignore", "target/\ndbt_packages/\n"),
];

pub fn run(g: &GlobalArgs, args: &InitArgs) -> Result<u8, Failure> {
    let printer = early_printer(g);
    let fail = |d: Diagnostic| {
        printer.diagnostics(&[d]);
        Failure::Reported
    };
    let name = &args.name;
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(fail(
            Diagnostic::error(
                codes::USAGE,
                format!("`{name}` is not a valid project name"),
            )
            .with_help(
                "use letters, digits and underscores, starting with a letter, e.g. `my_project`",
            ),
        ));
    }
    let base = g.project_dir.clone().unwrap_or_else(|| ".".into());
    let dir = base.join(name);
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(fail(
            Diagnostic::error(
                codes::USAGE,
                format!("{} already exists and is not empty", dir.display()),
            )
            .with_help("choose another name or remove the folder"),
        ));
    }
    for (path, text) in FILES {
        let target = dir.join(path);
        write(&target, &text.replace("{{name}}", name)).map_err(|e| {
            fail(Diagnostic::error(
                codes::USAGE,
                format!("cannot write {}: {e}", target.display()),
            ))
        })?;
    }
    printer.info(&format!("Created project `{name}` in {}", dir.display()));
    printer.info(&format!("Next: cd {} && rdbt compile", dir.display()));
    Ok(EXIT_OK)
}

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)
}
