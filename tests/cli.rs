//! The commands around parsing: init, deps, debug, clean, help, version.

mod common;

use common::{fixture, rdbt, rdbt_env};

#[test]
fn init_scaffolds_a_project_that_compiles() {
    let dir = tempfile::tempdir().expect("dir");
    let run = rdbt(dir.path(), &["init", "shop"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let project = dir.path().join("shop");
    let compile = rdbt(&project, &["compile"]);
    assert_eq!(compile.code, 0, "{}", compile.transcript());
    let sql = std::fs::read_to_string(
        project.join("target/compiled/shop/models/marts/customer_summary.sql"),
    )
    .expect("compiled");
    assert!(sql.contains("date_trunc('month', signup_date)"), "{sql}");
    assert!(sql.contains("from \"main\".\"stg_customers\""), "{sql}");
    let again = rdbt(dir.path(), &["init", "shop"]);
    assert_eq!(again.code, 2);
    assert!(again.stdout.contains("already exists"), "{}", again.stdout);
    let bad = rdbt(dir.path(), &["init", "my-shop"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stdout.contains("not a valid project name"));
}

#[test]
fn deps_installs_local_packages_and_explains_what_it_cannot_fetch() {
    let p = fixture("jaffle_nested");
    let run = rdbt(p.path(), &["deps"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        p.path()
            .join("dbt_packages/shared_utils/dbt_project.yml")
            .is_file()
    );
    std::fs::write(
        p.path().join("packages.yml"),
        "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n",
    )
    .expect("write");
    let run = rdbt(p.path(), &["deps"]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("packages.yml:2:5"), "{}", run.stdout);
    assert!(run.stdout.contains("dbt_utils"), "{}", run.stdout);
    std::fs::write(
        p.path().join("packages.yml"),
        "packages:\n  - local: ../nowhere\n",
    )
    .expect("write");
    let run = rdbt(p.path(), &["deps"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("has no dbt_project.yml"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_missing_package_macro_names_deps() {
    let p = fixture("jaffle_nested");
    // Without `rdbt deps`, shared_utils.greet() is unknown.
    let run = rdbt(p.path(), &["parse"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("models/marts/orders.sql:27"),
        "{}",
        run.stdout
    );
}

#[test]
fn debug_shows_settings_and_masks_secrets() {
    let p = fixture("jaffle_nested");
    std::fs::write(
        p.path().join("profiles.yml"),
        "jaffle_nested:\n  target: local\n  outputs:\n    local:\n      type: datafusion\n      schema: \"{{ env_var('RDBT_TEST_SCHEMA', 'fallback') }}\"\n      password: \"{{ env_var('RDBT_TEST_SECRET') }}\"\n",
    )
    .expect("write");
    let run = rdbt_env(
        p.path(),
        &["debug", "--threads", "3"],
        &[
            ("RDBT_TEST_SECRET", "hunter2"),
            ("RDBT_TEST_SCHEMA", "from_env"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("schema: from_env"), "{}", run.stdout);
    assert!(run.stdout.contains("threads: 3"));
    assert!(run.stdout.contains("threads: --threads"));
    assert!(run.stdout.contains("password: \"****\""), "{}", run.stdout);
    assert!(!run.stdout.contains("hunter2") && !run.stdout.contains("hunter2"));
    assert!(run.stdout.contains("connection: OK"));
    let missing = rdbt(p.path(), &["debug"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stdout.contains("RDBT_TEST_SECRET"),
        "{}",
        missing.stdout
    );
    let wrong_target = rdbt(p.path(), &["debug", "--target", "prod"]);
    assert_eq!(wrong_target.code, 2);
    assert!(
        wrong_target
            .stdout
            .contains("target `prod` is not an output"),
        "{}",
        wrong_target.stdout
    );
}

#[test]
fn no_profiles_means_the_local_warehouse() {
    let p = fixture("jaffle_nested");
    std::fs::remove_file(p.path().join("profiles.yml")).expect("rm");
    // A project naming no profile (one naming a missing profile is an
    // error, as in dbt: #29).
    let project_file = p.path().join("dbt_project.yml");
    let text = std::fs::read_to_string(&project_file).expect("project file");
    let unnamed: String = text
        .lines()
        .filter(|l| !l.starts_with("profile:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&project_file, unnamed).expect("write project file");
    let run = rdbt(p.path(), &["debug"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("target: local (type: datafusion)"));
    assert!(run.stdout.contains("built-in local target"));
}

#[test]
fn clean_removes_clean_targets_only_inside_the_project() {
    // The project sits beside a canary folder that a wrong `..` must never reach.
    let outer = tempfile::tempdir().expect("dir");
    let project = outer.path().join("project");
    common::copy_dir(&common::fixtures_dir().join("jaffle_nested"), &project);
    let canary = outer.path().join("canary");
    std::fs::create_dir_all(&canary).expect("canary");
    assert_eq!(rdbt(&project, &["deps"]).code, 0);
    assert_eq!(rdbt(&project, &["parse"]).code, 0);
    assert!(project.join("target").is_dir());
    let run = rdbt(&project, &["clean"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(!project.join("target").exists() && !project.join("dbt_packages").exists());
    let pf = project.join("dbt_project.yml");
    let original = std::fs::read_to_string(&pf).expect("read");
    for escape in ["../canary", "target/../../canary", ".", "target/.."] {
        let text = original.replace(
            "clean-targets: [\"target\", \"dbt_packages\"]",
            &format!("clean-targets: [\"{escape}\"]"),
        );
        std::fs::write(&pf, text).expect("write");
        let run = rdbt(&project, &["clean"]);
        assert_eq!(run.code, 2, "{escape}: {}", run.transcript());
        assert!(
            run.stdout.contains("outside the project"),
            "{escape}: {}",
            run.stdout
        );
        assert!(
            canary.is_dir() && project.join("models").is_dir(),
            "{escape} deleted something"
        );
    }
}

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().expect("dir");
    let run = rdbt(dir.path(), &["--version"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("rdbt "));
    let run = rdbt(dir.path(), &["ls", "--help"]);
    assert_eq!(run.code, 0);
    for flag in [
        "--resource-type",
        "--output",
        "--output-keys",
        "--select",
        "--exclude",
        "--selector",
        "--project-dir",
        "--profiles-dir",
        "--target",
        "--vars",
        "--threads",
        "--log-format",
        "--quiet",
        "--no-color",
        "--state",
    ] {
        assert!(run.stdout.contains(flag), "ls --help lacks {flag}");
    }
    let run = rdbt(dir.path(), &["nonsense"]);
    assert_eq!(run.code, 2);
}

#[test]
fn quiet_hides_info_but_not_output() {
    let p = fixture("jaffle_nested");
    assert_eq!(rdbt(p.path(), &["deps"]).code, 0);
    let run = rdbt(
        p.path(),
        &["ls", "-q", "-s", "orders", "--resource-type", "model"],
    );
    assert_eq!(run.stdout, "jaffle_nested.marts.orders\n");
    assert_eq!(run.stderr, "");
}

/// #29 bug 8: hints that pointed the wrong way, and engine internals that
/// reached the user.
#[test]
fn errors_say_what_and_where_without_engine_internals() {
    let dir = common::project(&[
        (
            "rdbt_project.yml",
            "name: hints\nmodels:\n  hints:\n    +materialized: table\n",
        ),
        ("models/trailing.sql", "select 1 as a,\n  2 as b from\n"),
        ("models/types.sql", "select 'a' + 1 as y\n"),
        ("models/divz.sql", "select 1 / 0 as x\n"),
        ("models/castfail.sql", "select cast('abc' as int) as z\n"),
        (
            "models/reads_raw.sql",
            "select * from {{ source('raw', 'orders') }}\n",
        ),
        (
            "models/sources.yml",
            "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: orders\n",
        ),
        ("seeds/people.csv", "id,name,amount\n1,a,10\n2,b\n3,c,30\n"),
    ]);
    let d = dir.path();

    // A syntax error at the very end is placed after the last character.
    let run = rdbt(d, &["compile", "-s", "trailing"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout.contains("error[R208]") && run.stdout.contains("models/trailing.sql:2:14"),
        "{}",
        run.transcript()
    );

    // Type errors name SQL types, not Arrow's.
    let run = rdbt(d, &["compile", "-s", "types"]);
    assert!(
        run.stdout.contains("VARCHAR + BIGINT") && !run.stdout.contains("Utf8"),
        "{}",
        run.transcript()
    );

    // A failing query in `show` is the query's error (R403), at its model.
    let run = rdbt(d, &["show", "-s", "divz"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout.contains("error[R403]")
            && run.stdout.contains("Divide by zero")
            && run.stdout.contains("models/divz.sql:1:1"),
        "{}",
        run.transcript()
    );
    // The optimizer's rule name and Arrow's framing are not the user's.
    let run = rdbt(d, &["run", "-s", "castfail"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("Cast error: Cannot cast string 'abc' to value of INTEGER type")
            && !run.stdout.contains("Optimizer rule")
            && !run.stdout.contains("Arrow error"),
        "{}",
        run.transcript()
    );

    // A source nobody loads is not sent to `rdbt ingest`...
    let run = rdbt(d, &["run", "-s", "reads_raw", "--static-analysis", "off"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains("no `ingest:` or `external:` block")
            && !run.stdout.contains("rdbt ingest --select"),
        "{}",
        run.transcript()
    );
    // ...and `rdbt ingest` of it is an error, not a quiet success.
    let run = rdbt(d, &["ingest", "-s", "source:raw.orders"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout.contains("`raw.orders` has no `ingest:` block"),
        "{}",
        run.transcript()
    );

    // A short seed row names its line, once, with the file as the user
    // knows it.
    let run = rdbt(d, &["seed"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("seeds/people.csv:3: this row has 2 values, but the header names 3 columns")
            && !run.stdout.contains("Error when processing CSV"),
        "{}",
        run.transcript()
    );
    // The Found line counts the project, whatever the command selects.
    assert!(
        run.stdout.contains("Found 5 models, 1 seed, 1 source"),
        "{}",
        run.transcript()
    );

    // `clone` says what it needs; `clean` (which deletes) is never
    // offered as the similar command.
    let run = rdbt(d, &["clone"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("`rdbt clone` needs --state") && !run.stderr.contains("'clean'"),
        "{}",
        run.transcript()
    );
    let run = rdbt(d, &["clea"]);
    assert_eq!(run.code, 2);
    assert!(!run.stderr.contains("similar"), "{}", run.transcript());
}
