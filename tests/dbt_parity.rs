//! dbt parity on small fixture projects (#28, #29): each test is one root
//! cause that stopped real dbt projects and packages, reproduced in a few
//! files with a dbt-duckdb profile, as a user would write them.

mod common;

use common::{project, rdbt, rows};
use serde_json::json;

const PROJECT: &str = "name: parity\nversion: '1.0'\nprofile: parity\nconfig-version: 2\n";
const DUCKDB_PROFILE: &str = "parity:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: dev.duckdb
      schema: main
      threads: 1
";

/// A dbt project with a dbt-duckdb profile and the given files.
fn duckdb_project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let mut all = vec![
        ("dbt_project.yml", PROJECT),
        ("profiles.yml", DUCKDB_PROFILE),
    ];
    all.extend_from_slice(files);
    project(&all)
}

fn build_ok(dir: &std::path::Path, args: &[&str]) -> String {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let run = rdbt(dir, &all);
    assert_eq!(run.code, 0, "{}", run.transcript());
    format!("{}{}", run.stdout, run.stderr)
}

/// #28 item 12: a dbt-duckdb profile is the embedded warehouse, keeps its
/// tables beside the named file, and templates see `duckdb`.
#[test]
fn duckdb_profile_is_the_embedded_warehouse() {
    let p = duckdb_project(&[(
        "models/m.sql",
        "select '{{ target.type }}' as target_type, '{{ adapter.type() }}' as adapter_type",
    )]);
    build_ok(p.path(), &[]);
    assert!(p.path().join("dev.duckdb.rdbt").is_dir());
    assert!(!p.path().join("dev.duckdb").exists());
    assert_eq!(
        rows(p.path(), "select * from {{ ref('m') }}"),
        vec![json!({"target_type": "duckdb", "adapter_type": "duckdb"})]
    );
}

/// #28 item 1: a model whose SQL is built from its parent's columns (as
/// `dbt_utils.star` builds it) is compiled after the parent exists; the
/// static analysis before the run leaves it alone instead of failing it.
#[test]
fn introspecting_models_compile_after_their_parents() {
    let p = duckdb_project(&[
        ("models/base.sql", "select 1 as a, 2 as b"),
        (
            "models/star.sql",
            "select\n{%- for c in adapter.get_columns_in_relation(ref('base')) %}\n  {{ c.quoted }}{{ ',' if not loop.last }}\n{%- endfor %}\nfrom {{ ref('base') }}",
        ),
        (
            "models/coalesced.sql",
            "select coalesce(a = b, false) as same from {{ ref('base') }}",
        ),
    ]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('star') }}"),
        vec![json!({"a": 1, "b": 2})]
    );
    assert_eq!(
        rows(p.path(), "select * from {{ ref('coalesced') }}"),
        vec![json!({"same": false})]
    );
}

/// #28 item 3: excluding a model drops its tests too (eager indirect
/// selection), as dbt does.
#[test]
fn excluding_a_model_excludes_its_tests() {
    let p = duckdb_project(&[
        ("models/kept.sql", "select 1 as id"),
        ("models/dropped.sql", "select 1 as id"),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: kept\n    columns:\n      - name: id\n        data_tests: [not_null]\n  - name: dropped\n    columns:\n      - name: id\n        data_tests: [not_null]\n",
        ),
    ]);
    let out = build_ok(p.path(), &["--exclude", "dropped"]);
    assert!(out.contains("not_null_kept_id"), "{out}");
    assert!(!out.contains("not_null_dropped_id"), "{out}");
    assert!(out.contains("TOTAL=2"), "{out}");
}

/// #28 items 5, 9 and 11: Jinja inside a test argument is rendered; a test
/// macro's `config(fail_calc=...)` is applied; `kwargs` reaches a macro
/// that reads it; lists stored in dicts can be appended to; `set()`
/// compares as a set.
#[test]
fn test_macros_behave_as_in_dbt() {
    let p = duckdb_project(&[
        (
            "models/m.sql",
            "select 1 as id, 2 as two union all select 2, 2",
        ),
        (
            "macros/tests.sql",
            "{% test expression_holds(model, expression) %}\nselect * from {{ model }} where not ({{ expression }})\n{% endtest %}\n\
             {% test weighted(model, column_name) %}\n{{ config(fail_calc='sum(w)') }}\nselect 0 as w from {{ model }}\n{% endtest %}\n\
             {% macro pick(name) %}{{ return(kwargs.get('value', name)) }}{% endmacro %}\n\
             {% macro two() %}{% set m = {'k': []} %}{% do m['k'].append(2) %}{{ return(m['k'][0]) }}{% endmacro %}\n",
        ),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: m\n    data_tests:\n      - expression_holds:\n          expression: \"two = {{ two() }} and {{ set(['a', 'b']) == set(['b', 'a']) }} and '{{ pick('x', value='y') }}' = 'y'\"\n    columns:\n      - name: id\n        data_tests: [weighted]\n",
        ),
    ]);
    let out = build_ok(p.path(), &[]);
    // The model and both tests; `weighted` fails with count(*) (two rows)
    // and passes only with its own fail_calc, sum(w) = 0.
    assert!(out.contains("PASS=3 WARN=0 ERROR=0"), "{out}");
}

/// #28 items 6 and 7: relations are mappings with dbt's metadata, columns
/// answer dbt's `Column` methods.
#[test]
fn relations_and_columns_are_dbt_objects() {
    let p = duckdb_project(&[
        (
            "models/base.sql",
            "select 'x' as s, 1.5 as f, cast(1 as bigint) as i",
        ),
        (
            "models/info.sql",
            "{% set rel = ref('base') %}\n{% set cols = adapter.get_columns_in_relation(rel) %}\n\
             select '{{ rel is mapping }}' as is_mapping, '{{ rel.get('metadata', {}).get('type', '') }}' as meta,\n\
             '{{ cols | selectattr('name', 'equalto', 's') | map(attribute='quoted') | first }}' as quoted,\n\
             '{% for c in cols %}{{ c.name }}:{{ c.is_string() }}/{{ c.is_number() }}/{{ c.is_float() }}/{{ c.is_integer() }} {% endfor %}' as kinds",
        ),
    ]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('info') }}"),
        vec![json!({
            "is_mapping": "True",
            "meta": "DuckDBRelation",
            "quoted": "\"s\"",
            "kinds": "s:True/False/False/False f:False/True/True/False i:False/True/False/True "
        })]
    );
}

/// #28 item 10: `modules.datetime` and `modules.pytz` behave as Python's.
#[test]
fn python_datetime_and_pytz() {
    let p = duckdb_project(&[(
        "models/m.sql",
        "{% set dt = modules.datetime %}{% set tz = modules.pytz.timezone('Europe/Paris') %}\n\
         {% set d = dt.datetime(2024, 7, 1, 12, 30) %}\n\
         select '{{ d }}' as naive,\n\
         '{{ tz.localize(d) }}' as localized,\n\
         '{{ tz.localize(d).astimezone(modules.pytz.utc) }}' as in_utc,\n\
         '{{ dt.datetime(1997, 9, 29, 6, 14, 0, tzinfo=modules.pytz.timezone('America/Los_Angeles')) }}' as pytz_lmt,\n\
         '{{ d.__add__(dt.timedelta(days=1, hours=1)).strftime('%Y-%m-%d %H:%M') }}' as tomorrow,\n\
         '{{ d.__sub__(dt.datetime(2024, 6, 30)) }}' as elapsed,\n\
         '{{ dt.date(2024, 2, 28).__add__(dt.timedelta(days=1)).isoformat() }}' as leap,\n\
         '{{ d > dt.datetime(2024, 1, 1) }}' as later",
    )]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('m') }}"),
        vec![json!({
            "naive": "2024-07-01 12:30:00",
            "localized": "2024-07-01 12:30:00+02:00",
            "in_utc": "2024-07-01 10:30:00+00:00",
            "pytz_lmt": "1997-09-29 06:14:00-07:52:58",
            "tomorrow": "2024-07-02 13:30",
            "elapsed": "1 day, 12:30:00",
            "leap": "2024-02-29",
            "later": "True"
        })]
    );
}

/// #28 item 10: datetime arithmetic with Python's operators (`+`, `-`),
/// as dbt's Jinja2 has it.
#[test]
fn datetime_arithmetic_with_operators() {
    let p = duckdb_project(&[(
        "models/m.sql",
        "{% set dt = modules.datetime %}\n\
         select '{{ dt.date(2024, 1, 10) - dt.timedelta(days=7) }}' as week_before,\n\
         '{{ dt.timedelta(days=1) + dt.date(2024, 2, 28) }}' as leap,\n\
         '{{ (dt.datetime(2024, 3, 1, 12) - dt.datetime(2024, 2, 28)).days }}' as days,\n\
         '{{ dt.datetime(2024, 1, 1) + dt.timedelta(hours=36) }}' as later,\n\
         '{{ dt.timedelta(days=2) - dt.timedelta(hours=12) }}' as span,\n\
         '{{ (run_started_at - dt.timedelta(days=1)) < run_started_at }}' as earlier,\n\
         {{ 5 - 2 }} as plain, '{{ ([1] + [2]) | join(',') }}' as lists",
    )]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('m') }}"),
        vec![json!({
            "week_before": "2024-01-03",
            "leap": "2024-02-29",
            "days": "2",
            "later": "2024-01-02 12:00:00",
            "span": "1 day, 12:00:00",
            "earlier": "True",
            "plain": 3,
            "lists": "1,2",
        })]
    );
    // A date minus a number is Python's TypeError, said as such.
    std::fs::write(
        p.path().join("models/m.sql"),
        "select '{{ modules.datetime.date(2024, 1, 1) - 1 }}' as x",
    )
    .expect("write");
    let run = rdbt(p.path(), &["compile"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("timedelta"), "{}", run.transcript());
}

/// #28 items 14–17: DuckDB's semantics on the embedded warehouse.
#[test]
fn duckdb_semantics() {
    let p = duckdb_project(&[
        (
            "seeds/events.csv",
            "id,at,valid_to\n1,2021-01-01 00:00,2021-02-01\n2,2021-01-02 13:45,\n",
        ),
        (
            "models/m.sql",
            "select\n\
               coalesce(valid_to, '2099-01-01') as valid_to,\n\
               dayofyear(cast(at as date)) as doy,\n\
               date_part('dayofyear', cast(at as date)) as doy2,\n\
               date_trunc('week', cast('2020-11-29' as date)) as week_start,\n\
               cast(cast('2021-06-07 14:35:20' as timestamp) at time zone 'UTC' at time zone 'America/Los_Angeles' as timestamp) as la,\n\
               cast('2021-06-07 06:14:00-07:00' as timestamp) as offset_applied,\n\
               date_add(cast(at as date), interval (id * 2) day) as plus,\n\
               id * interval '1 hour' + at as later,\n\
               regexp_matches('abc', 'b') as matched,\n\
               mod(7, id) as m\n\
             from {{ ref('events') }} order by id",
        ),
    ]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('m') }}"),
        vec![
            json!({"valid_to": "2021-02-01", "doy": 1, "doy2": 1, "week_start": "2020-11-23",
                   "la": "2021-06-07T07:35:20", "offset_applied": "2021-06-07T13:14:00",
                   "plus": "2021-01-03", "later": "2021-01-01T01:00:00", "matched": true, "m": 0}),
            json!({"valid_to": "2099-01-01", "doy": 2, "doy2": 2, "week_start": "2020-11-23",
                   "la": "2021-06-07T07:35:20", "offset_applied": "2021-06-07T13:14:00",
                   "plus": "2021-01-06", "later": "2021-01-02T15:45:00", "matched": true, "m": 1}),
        ]
    );
}

/// #29 bug 2: `log(msg, info=True)` and `log(msg, True)` print on the
/// console instead of failing or staying silent; every log, debug ones
/// too, goes to `logs/dbt.log`, as dbt keeps it.
#[test]
fn info_logs_are_printed() {
    let p = duckdb_project(&[(
        "models/m.sql",
        "{% if execute %}{{ log('hello from m', info=True) }}{{ log('and again', True) }}{{ log('debug only') }}{% endif %}select 1 as x",
    )]);
    let out = build_ok(p.path(), &[]);
    assert!(out.contains("hello from m"), "{out}");
    assert!(out.contains("and again"), "{out}");
    assert!(!out.contains("debug only"), "{out}");
    let log = std::fs::read_to_string(p.path().join("logs/dbt.log")).expect("logs/dbt.log");
    assert!(log.contains("[debug] [MainThread]: debug only"), "{log}");
    assert!(log.contains("[info ] [MainThread]: hello from m"), "{log}");
    assert!(log.contains("Done. PASS=1"), "{log}");
}

/// #29 bug 3: `run-operation` renders the macro once, with `execute` true,
/// so `run_query` results can be used without an `{% if execute %}` guard.
#[test]
fn run_operation_renders_once_with_execute() {
    let p = duckdb_project(&[(
        "macros/ops.sql",
        "{% macro answer() %}{% set results = run_query('select 42 as n') %}{{ log('answer is ' ~ results.columns[0].values()[0], info=True) }}{% endmacro %}",
    )]);
    let run = rdbt(p.path(), &["run-operation", "answer"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("answer is 42"),
        "{}",
        run.transcript()
    );
}

/// #28 item 4: `rdbt deps` installs packages' own dependencies, once each
/// (a hub spec is satisfied by the same package installed from elsewhere),
/// writes `package-lock.yml` and follows it on the next run.
#[test]
fn deps_resolve_transitively_with_a_lock() {
    let p = duckdb_project(&[
        ("packages.yml", "packages:\n  - local: vendor/outer\n"),
        ("models/m.sql", "select {{ outer.doubled(21) }} as answer"),
    ]);
    let pkgs = p.path().join("vendor");
    let write = |rel: &str, text: &str| {
        let path = pkgs.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, text).expect("write");
    };
    write(
        "outer/dbt_project.yml",
        "name: outer\nversion: '1.0'\nconfig-version: 2\n",
    );
    write(
        "outer/packages.yml",
        "packages:\n  - local: ../inner\n  - package: someorg/inner\n    version: [\">=1.0.0\", \"<2.0.0\"]\n",
    );
    write(
        "outer/macros/doubled.sql",
        "{% macro doubled(x) %}{{ inner.times(x, 2) }}{% endmacro %}",
    );
    write(
        "inner/dbt_project.yml",
        "name: inner\nversion: '1.0'\nconfig-version: 2\n",
    );
    write(
        "inner/macros/times.sql",
        "{% macro times(x, n) %}({{ x }} * {{ n }}){% endmacro %}",
    );
    let deps = rdbt(p.path(), &["deps"]);
    assert_eq!(deps.code, 0, "{}", deps.transcript());
    assert!(
        p.path()
            .join("dbt_packages/inner/dbt_project.yml")
            .is_file()
    );
    let lock = std::fs::read_to_string(p.path().join("package-lock.yml")).expect("lock");
    assert!(
        lock.contains("name: \"outer\"") && lock.contains("name: \"inner\""),
        "{lock}"
    );
    assert!(lock.contains("sha1_hash: "), "{lock}");
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('m') }}"),
        vec![json!({"answer": 42})]
    );
    // The lock is followed: the inner package is installed again from it
    // even once the outer package stops naming it.
    write("outer/packages.yml", "packages: []\n");
    std::fs::remove_dir_all(p.path().join("dbt_packages")).expect("clean");
    let again = rdbt(p.path(), &["deps"]);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert!(
        p.path()
            .join("dbt_packages/inner/dbt_project.yml")
            .is_file()
    );
}

/// #28 item 5: Jinja in `dbt_project.yml` config values and in vars is
/// rendered, as dbt renders it.
#[test]
fn jinja_in_project_configs_and_vars() {
    let p = project(&[
        (
            "dbt_project.yml",
            "name: parity\nversion: '1.0'\nprofile: parity\nconfig-version: 2\n\
             vars:\n  greeting: \"{{ 'hi' ~ '!' }}\"\n\
             models:\n  parity:\n    +materialized: \"{{ 'table' if target.name == 'dev' else 'view' }}\"\n    off:\n      +enabled: \"{{ target.name != 'dev' }}\"\n",
        ),
        ("profiles.yml", DUCKDB_PROFILE),
        ("models/m.sql", "select '{{ var('greeting') }}' as greeting"),
        ("models/off/skipped.sql", "select 1 as x"),
    ]);
    let out = build_ok(p.path(), &[]);
    assert!(out.contains("sql table model main.m"), "{out}");
    assert!(!out.contains("skipped"), "{out}");
    assert_eq!(
        rows(p.path(), "select * from {{ ref('m') }}"),
        vec![json!({"greeting": "hi!"})]
    );
}

/// #28 item 8: the `graph` object holds the project's nodes and sources
/// with dbt's fields, as project linters and code generators read it.
#[test]
fn graph_object_lists_the_project() {
    let p = duckdb_project(&[
        ("models/a.sql", "select 1 as id"),
        ("models/b.sql", "select * from {{ ref('a') }}"),
        (
            "models/sources.yml",
            "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: events\n",
        ),
        (
            "models/report.sql",
            "{% set models = [] %}{% for node in graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') %}{% do models.append(node.name ~ ':' ~ (node.depends_on.nodes | length)) %}{% endfor %}\n\
             select '{{ models | sort | join(',') }}' as models, {{ graph.sources | length }} as sources",
        ),
    ]);
    build_ok(p.path(), &["-s", "a", "report"]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('report') }}"),
        vec![json!({"models": "a:0,b:1,report:0", "sources": 1})]
    );
}

/// #28 item 9: dbt's global cross-database macros are callable by name
/// (`dbt.date_spine`, `dbt.date`, `dbt.equals`, `dbt.cast`, `dbt.dateadd`
/// with a computed interval, `dbt.datediff`, arrays). As in dbt, the date
/// spine stops before its end date.
#[test]
fn global_cross_database_macros() {
    let p = duckdb_project(&[
        (
            "models/spine.sql",
            "{{ dbt.date_spine('day', \"cast('2024-01-30' as date)\", \"cast('2024-02-02' as date)\") }}",
        ),
        (
            "models/misc.sql",
            "select {{ dbt.date(2024, 2, 29) }} as d,\n\
             {{ dbt.equals('cast(null as int)', 'cast(null as int)') }} as nulls_equal,\n\
             {{ dbt.cast(\"'7'\", dbt.type_int()) }} as seven,\n\
             {{ dbt.datediff(\"cast('2024-01-31' as date)\", \"cast('2024-03-01' as date)\", 'month') }} as months,\n\
             {{ dbt.datediff(\"cast('2024-01-07' as date)\", \"cast('2024-01-08' as date)\", 'week') }} as weeks,\n\
             {{ dbt.dateadd('month', '1 + 1', \"cast('2024-01-31' as date)\") }} as later,\n\
             array_length({{ dbt.array_append(dbt.array_construct([1, 2]), 3) }}, 1) as n",
        ),
    ]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(
            p.path(),
            "select cast(date_day as varchar) as d from {{ ref('spine') }} order by 1"
        ),
        vec![
            json!({"d": "2024-01-30"}),
            json!({"d": "2024-01-31"}),
            json!({"d": "2024-02-01"}),
        ]
    );
    assert_eq!(
        rows(
            p.path(),
            "select cast(d as varchar) as d, nulls_equal, seven, months, weeks, cast(later as varchar) as later, n from {{ ref('misc') }}"
        ),
        vec![
            json!({"d": "2024-02-29", "nulls_equal": true, "seven": 7, "months": 2, "weeks": 1, "later": "2024-03-31", "n": 3})
        ]
    );
}

/// #28 item 11: `| int` and `| float` fall back to their default on bad
/// input, a macro default may name an earlier argument, and `| list` and
/// `dict()` make values that can be mutated.
#[test]
fn jinja2_filters_and_defaults() {
    let p = duckdb_project(&[
        (
            "macros/m.sql",
            "{% macro greet(schema_name, name=schema_name) %}{{ name }}{% endmacro %}",
        ),
        (
            "models/m.sql",
            "select '{{ 'abc' | int }},{{ '3.7' | int }},{{ 'ff' | int(base=16) }},{{ 'x' | float }},{{ 'q' | int(5) }}' as filters,\n\
             '{{ greet('s') }}/{{ greet('s', 'n') }}' as defaults,\n\
             '{% set l = ['b', 'a'] | sort | list %}{% do l.append('c') %}{% set d = dict(a=1) %}{% do d.update({'b': 2}) %}{{ l | join }}{{ d | tojson }}' as mutable",
        ),
    ]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('m') }}"),
        vec![
            json!({"filters": "0,3,255,0.0,5", "defaults": "s/n", "mutable": "abc{\"a\":1,\"b\":2}"})
        ]
    );
}

/// #28 item 10: `modules.re` is Python's `re`: match objects, look-around,
/// a literal `{`, back-references in `sub`, flags.
#[test]
fn python_re_module() {
    let p = duckdb_project(&[(
        "models/m.sql",
        "{% set re = modules.re %}\n\
         {% set m = re.match('(?P<word>[a-z]+)_(\\\\d+)', 'order_42_x') %}\n\
         select '{{ m.group(0) }}|{{ m.group('word') }}|{{ m.groups() | join(',') }}|{{ m.span() | join(',') }}' as groups,\n\
         '{{ re.search('foo(?=bar)', 'xfoobar').group() }}' as lookahead,\n\
         '{{ re.findall('{(\\\\w+)}', '{a} and {b}') | join(',') }}' as braces,\n\
         '{{ re.sub('(\\\\w+)@(\\\\w+)', '\\\\2 at \\\\1', 'me@host') }}' as replaced,\n\
         '{{ re.match('abc', 'ABC', re.IGNORECASE) is not none }}|{{ re.match('b', 'abc') is none }}' as flags,\n\
         '{{ re.compile('\\\\s+').split('a  b c') | join('/') }}' as split",
    )]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('m') }}"),
        vec![json!({
            "groups": "order_42|order|order,42|0,8",
            "lookahead": "foo",
            "braces": "a,b",
            "replaced": "host at me",
            "flags": "True|True",
            "split": "a/b/c"
        })]
    );
}

/// #28 item 19: `show --select <snapshot>` reads the snapshot's table;
/// `show --output csv` prints the header of an empty result and keeps
/// trailing whitespace in values.
#[test]
fn show_reads_snapshots_and_prints_csv_faithfully() {
    let p = duckdb_project(&[
        ("models/src.sql", "select 1 as id, 'a' as v"),
        (
            "snapshots/snap.sql",
            "{% snapshot snap %}\n{{ config(target_schema='snapshots', unique_key='id', strategy='check', check_cols=['v']) }}\nselect * from {{ ref('src') }}\n{% endsnapshot %}\n",
        ),
    ]);
    build_ok(p.path(), &[]);
    let run = rdbt(p.path(), &["show", "-q", "-s", "snap", "--output", "json"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout.contains("dbt_valid_from"),
        "{}",
        run.transcript()
    );
    let run = rdbt(
        p.path(),
        &[
            "show",
            "-q",
            "--inline",
            "select 'x  ' as padded, 1 as n where 1 = 0",
            "--output",
            "csv",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.stdout, "padded,n\n");
    let run = rdbt(
        p.path(),
        &[
            "show",
            "-q",
            "--inline",
            "select 'x  ' as padded",
            "--output",
            "csv",
        ],
    );
    assert_eq!(run.stdout, "padded\nx  \n");
}

/// #28 item 2: an incremental strategy the warehouse lacks is an error only
/// when the incremental branch runs, not at parse for the whole project.
#[test]
fn incremental_strategy_is_checked_when_it_runs() {
    let p = duckdb_project(&[
        (
            "models/inc.sql",
            "{{ config(materialized='incremental', incremental_strategy='no_such_strategy') }}\nselect 1 as id",
        ),
        ("models/other.sql", "select 2 as id"),
    ]);
    build_ok(p.path(), &[]);
    let again = rdbt(p.path(), &["build"]);
    assert_eq!(again.code, 1, "{}", again.transcript());
    let out = format!("{}{}", again.stdout, again.stderr);
    assert!(
        out.contains("incremental_strategy `no_such_strategy`"),
        "{out}"
    );
    assert!(out.contains("PASS=1"), "{out}");
}

/// #29 bug 1: a `unit_tests:` block in the same YAML file as data tests
/// builds, and every node's compiled SQL is written.
#[test]
fn unit_tests_beside_data_tests_in_one_yaml() {
    let p = duckdb_project(&[
        ("models/m.sql", "select 1 as id"),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: id\n        data_tests: [not_null]\n\
             unit_tests:\n  - name: m_keeps_its_row\n    model: m\n    given: []\n    expect:\n      rows:\n        - {id: 1}\n",
        ),
    ]);
    let out = build_ok(p.path(), &[]);
    assert!(out.contains("PASS=3"), "{out}");
    let folder = p.path().join("target/run/parity/models/schema.yml");
    assert!(folder.join("not_null_m_id.sql").is_file());
    assert!(folder.join("m_keeps_its_row.sql").is_file());
}

/// #28 item 13: unit-test fixtures as dbt has them: `fixture:` files under
/// tests/fixtures/ (not singular tests), CSV and SQL formats, an empty
/// `expect`, and a macro override that returns a dict.
#[test]
fn unit_test_fixtures() {
    let p = duckdb_project(&[
        ("models/src.sql", "select 1 as id, 'a' as v"),
        (
            "models/m.sql",
            "select id, v, '{{ my_lookup()[\"k\"] }}' as looked from {{ ref('src') }} where id > 0",
        ),
        (
            "macros/l.sql",
            "{% macro my_lookup() %}{{ return({'k': 'real'}) }}{% endmacro %}",
        ),
        ("tests/fixtures/src_rows.csv", "id,v\n1,x\n2,y\n"),
        (
            "tests/fixtures/src_rows_sql.sql",
            "select 3 as id, 'z' as v",
        ),
        (
            "models/ut.yml",
            "version: 2\nunit_tests:\n\
             \x20 - name: from_csv_fixture\n    model: m\n    overrides:\n      macros:\n        my_lookup: {k: mocked}\n\
             \x20   given:\n      - input: ref('src')\n        format: csv\n        fixture: src_rows\n\
             \x20   expect:\n      rows:\n        - {id: 1, v: x, looked: mocked}\n        - {id: 2, v: y, looked: mocked}\n\
             \x20 - name: from_sql_fixture\n    model: m\n    given:\n      - input: ref('src')\n        format: sql\n        fixture: src_rows_sql\n\
             \x20   expect:\n      format: sql\n      rows: \"select 3 as id, 'z' as v, 'real' as looked\"\n\
             \x20 - name: nothing_expected\n    model: m\n    given:\n      - input: ref('src')\n        rows: []\n    expect:\n      rows: []\n",
        ),
    ]);
    let out = build_ok(p.path(), &[]);
    assert!(out.contains("PASS=5 WARN=0 ERROR=0"), "{out}");
}

/// #30 item 8: in `build`, a model's unit tests run before it (after its
/// parents), and a failing one skips the model and its descendants, as in
/// dbt 1.8; a passing one lets it build.
#[test]
fn build_runs_unit_tests_before_their_model() {
    let p = duckdb_project(&[
        ("models/src.sql", "select 1 as id"),
        ("models/good.sql", "select id from {{ ref('src') }}"),
        (
            "models/bad.sql",
            "select id + 1 as id from {{ ref('src') }}",
        ),
        ("models/child.sql", "select * from {{ ref('bad') }}"),
        (
            "models/ut.yml",
            concat!(
                "version: 2\nunit_tests:\n",
                "  - name: good_keeps_ids\n    model: good\n",
                "    given: [{input: \"ref('src')\", rows: [{id: 5}]}]\n",
                "    expect: {rows: [{id: 5}]}\n",
                "  - name: bad_keeps_ids\n    model: bad\n",
                "    given: [{input: \"ref('src')\", rows: [{id: 5}]}]\n",
                "    expect: {rows: [{id: 5}]}\n",
            ),
        ),
    ]);
    let run = rdbt(p.path(), &["build", "--threads", "1"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let out = &run.stdout;
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("no `{needle}` in {out}"))
    };
    assert!(at("PASS unit test good_keeps_ids") < at("START sql view model main.good"));
    assert!(at("START sql view model main.src") < at("START unit test bad_keeps_ids"));
    assert!(out.contains("FAIL unit test bad_keeps_ids"), "{out}");
    assert!(out.contains("SKIP relation main.bad"), "{out}");
    assert!(out.contains("SKIP relation main.child"), "{out}");
    assert!(out.contains("OK created sql view model main.good"), "{out}");
    // `rdbt test` alone runs the unit tests against what exists.
    let test = rdbt(p.path(), &["test", "-s", "good"]);
    assert_eq!(test.code, 0, "{}", test.transcript());
}

/// #30 item 2: a misspelled or custom config key is a warning at its
/// place, in SQL and in YAML, with the key it is closest to.
#[test]
fn unknown_config_keys_are_warned_with_did_you_mean() {
    let p = duckdb_project(&[
        (
            "models/m.sql",
            "{{ config(materialised='table', tags=['a']) }}\nselect 1 as id",
        ),
        (
            "models/m.yml",
            "version: 2\nmodels:\n  - name: m\n    config:\n      uniqe_key: id\n      owner_team: growth\n",
        ),
    ]);
    let run = rdbt(p.path(), &["parse"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let out = &run.stdout;
    for (key, place, help) in [
        (
            "materialised",
            "models/m.sql:1:11",
            "did you mean `materialized`?",
        ),
        (
            "uniqe_key",
            "models/m.yml:5:7",
            "did you mean `unique_key`?",
        ),
        ("owner_team", "models/m.yml:6:7", "put it under `meta:`"),
    ] {
        let at = out
            .find(&format!("warning[R210]: unknown config `{key}`"))
            .unwrap_or_else(|| panic!("no warning for {key}: {out}"));
        let block = &out[at..];
        assert!(block.contains(place), "{key}: {block}");
        assert!(block.contains(help), "{key}: {block}");
    }
    assert!(!out.contains("unknown config `tags`"), "{out}");
}

/// #30 item 4: a node that stops says why by kind, as dbt labels it
/// (`Database Error in model`), with a stable code in run_results.json and
/// the JSON logs.
#[test]
fn run_errors_are_typed_with_stable_codes() {
    let p = duckdb_project(&[
        ("models/broken.sql", "select nope from (select 1 as id)"),
        (
            "models/bad_config.sql",
            "{{ config(materialized='incremental', incremental_strategy='merge') }}\nselect 1 as id",
        ),
    ]);
    let run = rdbt(p.path(), &["run", "--static-analysis", "off"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("Database Error in model broken (models/broken.sql)"),
        "{}",
        run.transcript()
    );
    // A second run takes the incremental branch, whose strategy needs a key.
    let again = rdbt(
        p.path(),
        &["run", "-s", "bad_config", "--log-format", "json"],
    );
    assert_eq!(again.code, 1, "{}", again.transcript());
    let failure = again
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["info"]["name"] == "RunResultFailure")
        .unwrap_or_else(|| panic!("no RunResultFailure: {}", again.stdout));
    assert_eq!(
        failure["data"]["node_info"]["error_code"], "R604",
        "{failure}"
    );
    let results: serde_json::Value = serde_json::from_slice(
        &std::fs::read(p.path().join("target/run_results.json")).expect("run_results"),
    )
    .expect("json");
    assert_eq!(
        results["results"][0]["rdbt_error"],
        json!({"code": "R604", "kind": "config"})
    );
}

/// #29 bug 5: an unchanged exposure is not `state:modified`.
#[test]
fn unchanged_exposures_are_not_modified() {
    let p = duckdb_project(&[
        ("models/a.sql", "select 1 as x"),
        (
            "models/exposures.yml",
            "version: 2\nexposures:\n  - name: dash\n    type: dashboard\n    owner: {email: a@example.com}\n    depends_on: [ref('a')]\n",
        ),
    ]);
    build_ok(p.path(), &[]);
    let state = tempfile::tempdir().expect("state");
    std::fs::copy(
        p.path().join("target/manifest.json"),
        state.path().join("manifest.json"),
    )
    .expect("copy manifest");
    let state_dir = state.path().to_string_lossy().into_owned();
    let run = rdbt(
        p.path(),
        &["ls", "-s", "state:modified", "--state", &state_dir],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(!run.stdout.contains("dash"), "{}", run.transcript());
    std::fs::write(p.path().join("models/a.sql"), "select 2 as x").expect("edit");
    let run = rdbt(
        p.path(),
        &["ls", "-s", "state:modified+", "--state", &state_dir],
    );
    assert!(
        run.stdout.contains("dash") && run.stdout.contains(".a"),
        "{}",
        run.transcript()
    );
}

/// #28 item 16: `FULL OUTER JOIN ... USING (k)` gives `k` as the coalesce
/// of both sides, in `*` and by name, as DuckDB does.
#[test]
fn full_join_using_coalesces_the_key() {
    let p = duckdb_project(&[
        ("models/l.sql", "select 1 as k, 'left' as l"),
        ("models/r.sql", "select 2 as k, 'right' as r"),
        (
            "models/j.sql",
            "select * from {{ ref('l') }} full outer join {{ ref('r') }} using (k)",
        ),
        (
            "models/named.sql",
            "select k, count(*) as n from {{ ref('l') }} a full join {{ ref('r') }} b using (k) where k > 0 group by k",
        ),
        (
            "models/third.sql",
            "select 2 as k, 'third' as t union all select 3, 'only third'",
        ),
        (
            "models/chain.sql",
            "select * from {{ ref('l') }} a full join {{ ref('r') }} b using (k) full join {{ ref('third') }} c using (k)",
        ),
        // Mixed kinds, and a join on a key the first join merged.
        (
            "models/mixed.sql",
            "select * from (select 0 as z, 1 as k, 1 as j, 'a' as x) a left join (select 1 as k, 1 as j, 'b' as y) b using (k, j) full join {{ ref('third') }} c using (k)",
        ),
    ]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('j') }} order by k"),
        vec![
            // (NULLs are left out of the JSON rows.)
            json!({"k": 1, "l": "left"}),
            json!({"k": 2, "r": "right"}),
        ]
    );
    assert_eq!(
        rows(p.path(), "select * from {{ ref('named') }} order by k"),
        vec![json!({"k": 1, "n": 1}), json!({"k": 2, "n": 1})]
    );
    // `*` lists the first relation's columns with the keys merged in place.
    let run = rdbt(
        p.path(),
        &[
            "show",
            "-q",
            "--inline",
            "select * from {{ ref('mixed') }} order by k",
            "--output",
            "csv",
            "--limit",
            "0",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        vec![
            "z,k,j,x,y,t",
            "0,1,1,a,b,",
            ",2,,,,third",
            ",3,,,,only third"
        ],
        "{}",
        run.transcript()
    );
    // In a chain, each join matches the key merged so far.
    assert_eq!(
        rows(p.path(), "select * from {{ ref('chain') }} order by k"),
        vec![
            json!({"k": 1, "l": "left"}),
            json!({"k": 2, "r": "right", "t": "third"}),
            json!({"k": 3, "t": "only third"}),
        ]
    );
}

/// #28 item 16: column names resolve regardless of case, quoted or not, as
/// in DuckDB: a seed header `CustomerName` is `customername` and
/// `"customerName"` too, in views, tables, incremental keys, `USING`,
/// `EXCLUDE` and data tests. DataFusion SQL keeps its exact quoted names.
#[test]
fn identifiers_resolve_regardless_of_case() {
    let p = duckdb_project(&[
        (
            "seeds/people.csv",
            "Id,CustomerName,\"Order Date\"\n1,ann,2024-01-01\n2,bob,2024-01-02\n",
        ),
        (
            "models/v.sql",
            "select id, customername, \"customerName\" as cn2, \"order date\" as od from {{ ref('people') }}",
        ),
        (
            "models/t.sql",
            "{{ config(materialized='table') }}\nselect p.* exclude (\"OD\") from {{ ref('v') }} p join {{ ref('people') }} q using (ID) where p.Id > 0 and q.\"order date\" is not null",
        ),
        (
            "models/inc.sql",
            "{{ config(materialized='incremental', unique_key='id') }}\nselect Id, CustomerName from {{ ref('people') }}",
        ),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: t\n    columns:\n      - name: customername\n        data_tests: [not_null, unique]\n",
        ),
    ]);
    build_ok(p.path(), &[]);
    // A second run merges on `id`, spelled `Id` in the table.
    build_ok(p.path(), &["-s", "inc"]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('t') }} order by ID"),
        vec![
            json!({"Id": 1, "CustomerName": "ann", "cn2": "ann"}),
            json!({"Id": 2, "CustomerName": "bob", "cn2": "bob"}),
        ]
    );
    assert_eq!(
        rows(p.path(), "select count(*) as n from {{ ref('inc') }}"),
        vec![json!({"n": 2})]
    );

    // DataFusion's dialect matches quoted names exactly.
    let exact = project(&[
        (
            "dbt_project.yml",
            "name: exact\nversion: '1.0'\nprofile: parity\nsql_dialect: datafusion\n",
        ),
        ("profiles.yml", DUCKDB_PROFILE),
        ("seeds/people.csv", "Id\n1\n"),
        ("models/m.sql", "select \"id\" from {{ ref('people') }}"),
    ]);
    let run = rdbt(exact.path(), &["build"]);
    assert_ne!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout.contains("No field named id"),
        "{}",
        run.transcript()
    );
}

/// #28 item 16: an integer literal that becomes a column is an INTEGER, as
/// in DuckDB (`typeof` says so); a view whose rows' types settle only
/// after planning (a UNION of INTEGER and BIGINT, `round(decimal, 0)`)
/// reads back with the types its rows have.
#[test]
fn integer_literals_are_integer() {
    let p = duckdb_project(&[
        (
            "models/lits.sql",
            "select 1 as a, -2 as b, 3000000000 as c, case when true then 1 else 0 end as d, coalesce(null, 5) as e, [1, 2] as l",
        ),
        (
            "models/mixed.sql",
            "select 1 as id, 2 as two union all select 2, 3000000000",
        ),
        (
            "models/rounded.sql",
            "select round(cast(430.123 as decimal(28,6)), 0) as r, 430 as e",
        ),
    ]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(
            p.path(),
            "select typeof(a) as a, typeof(b) as b, typeof(c) as c, typeof(d) as d, typeof(e) as e, typeof(l) as l, typeof(1) as lit from {{ ref('lits') }}"
        ),
        vec![json!({
            "a": "INTEGER", "b": "INTEGER", "c": "BIGINT", "d": "INTEGER",
            "e": "INTEGER", "l": "INTEGER[]", "lit": "INTEGER"
        })]
    );
    assert_eq!(
        rows(
            p.path(),
            "select typeof(two) as t, count(*) as n from {{ ref('mixed') }} where two != 2 group by 1"
        ),
        vec![json!({"t": "BIGINT", "n": 1})]
    );
    assert_eq!(
        rows(
            p.path(),
            "select count(*) as n from {{ ref('rounded') }} where r != e"
        ),
        vec![json!({"n": 0})]
    );
}

/// #28 item 15: more of DuckDB's common functions run with DuckDB's results.
#[test]
fn duckdb_functions() {
    let p = duckdb_project(&[(
        "models/m.sql",
        "select regexp_extract('abc123', '[0-9]+') as digits,\n\
         regexp_extract('abc123', '([a-z]+)([0-9]+)', 1) as letters,\n\
         regexp_extract('abc', 'z') as none_found,\n\
         epoch_ms(timestamp '2024-01-01 00:00:01') as ms,\n\
         len('abc') as chars, strlen('é') as bytes,\n\
         cast(last_day(date '2024-02-10') as varchar) as month_end,\n\
         json_extract_string('{\"a\": {\"b\": \"x\"}}', '$.a.b') as json_value,\n\
         list_value(1, 2) as list",
    )]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('m') }}"),
        vec![
            json!({"digits": "123", "letters": "abc", "none_found": "", "ms": 1704067201000i64,
                    "chars": 3, "bytes": 2, "month_end": "2024-02-29", "json_value": "x", "list": [1, 2]})
        ]
    );
}

/// #29 bug 6: a profile the project names must exist, as in dbt; only a
/// project that names none builds on the built-in local target.
#[test]
fn a_named_profile_must_exist() {
    let misspelled = project(&[
        ("dbt_project.yml", "name: shop\nprofile: shopp\n"),
        (
            "profiles.yml",
            "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: dev.duckdb\n",
        ),
        ("models/m.sql", "select 1 as x"),
    ]);
    let run = rdbt(misspelled.path(), &["build"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout.contains("profile `shopp` is not in"),
        "{}",
        run.transcript()
    );
    assert!(run.stdout.contains("shop"), "{}", run.transcript());

    let missing = project(&[
        ("dbt_project.yml", "name: shop\nprofile: shop\n"),
        ("models/m.sql", "select 1 as x"),
    ]);
    let run = rdbt(missing.path(), &["build"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout.contains("no profiles.yml was found"),
        "{}",
        run.transcript()
    );

    let unnamed = project(&[
        ("dbt_project.yml", "name: shop\n"),
        ("models/m.sql", "select 1 as x"),
    ]);
    build_ok(unnamed.path(), &[]);
}

/// #28 item 5: Jinja in a column's `data_type` and a seed's `column_types`
/// in property YAML is rendered.
#[test]
fn jinja_in_yaml_types() {
    let p = duckdb_project(&[
        ("seeds/s.csv", "id,amount\n1,2\n"),
        (
            "seeds/s.yml",
            "version: 2\nseeds:\n  - name: s\n    config:\n      column_types:\n        amount: \"{{ dbt.type_float() }}\"\n",
        ),
        (
            "models/m.sql",
            "{{ config(contract={'enforced': true}) }}\nselect cast(id as varchar) as id, amount from {{ ref('s') }}",
        ),
        (
            "models/m.yml",
            "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: id\n        data_type: \"{{ dbt.type_string() }}\"\n      - name: amount\n        data_type: \"{{ 'double' }}\"\n",
        ),
    ]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('m') }}"),
        vec![json!({"id": "1", "amount": 2.0})]
    );
}

/// #28 item 16: `current_timestamp` is one value per query, in every view
/// the query reads.
#[test]
fn current_timestamp_is_one_value_per_query() {
    let p = duckdb_project(&[
        ("models/v1.sql", "select current_timestamp as t"),
        ("models/v2.sql", "select now() as t"),
        (
            "models/same.sql",
            "{{ config(materialized='table') }}\nselect v1.t = v2.t and v1.t = current_timestamp as same from {{ ref('v1') }} v1 cross join {{ ref('v2') }} v2",
        ),
    ]);
    build_ok(p.path(), &[]);
    assert_eq!(
        rows(p.path(), "select * from {{ ref('same') }}"),
        vec![json!({"same": true})]
    );
}

/// #29 bug 7: `compile` renders `is_incremental()` as the run would: true
/// once the incremental model's table exists (and the static analysis still
/// plans the full-refresh shape, whose columns the manifest keeps).
#[test]
fn compile_sees_existing_incremental_tables() {
    let p = common::project(&[
        ("rdbt_project.yml", "name: inc\n"),
        (
            "models/events.sql",
            "{{ config(materialized='incremental', unique_key='id') }}\nselect 1 as id, 'a' as label\n{% if is_incremental() %}where 1 > (select max(id) from {{ this }}){% endif %}\n",
        ),
    ]);
    let dir = p.path();
    let compiled = dir.join("target/compiled/inc/models/events.sql");
    let before = rdbt(dir, &["compile"]);
    assert_eq!(before.code, 0, "{}", before.transcript());
    let text = std::fs::read_to_string(&compiled).expect("compiled");
    assert!(!text.contains("max(id)"), "{text}");

    assert_eq!(rdbt(dir, &["run"]).code, 0);
    let after = rdbt(dir, &["compile"]);
    assert_eq!(after.code, 0, "{}", after.transcript());
    let text = std::fs::read_to_string(&compiled).expect("compiled");
    assert!(text.contains("max(id)"), "{text}");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("target/manifest.json")).expect("manifest"),
    )
    .expect("json");
    let node = &manifest["nodes"]["model.inc.events"];
    assert!(
        node["compiled_code"]
            .as_str()
            .is_some_and(|c| c.contains("max(id)"))
    );
    assert_eq!(node["inferred_columns"][1]["name"], "label", "{node}");
}

/// #29 feature: model versions as dbt has them: `versions:` with
/// `defined_in`, `latest_version`, version columns (`include`/`exclude`),
/// `ref(name, v=)`, the `<name>_v<v>` relations, selection by
/// `name.v1`/`name_v1`/`version:`, tests per version, and deprecation
/// warnings.
#[test]
fn model_versions() {
    let p = project(&[
        (
            "rdbt_project.yml",
            "name: mv\nmodels:\n  mv:\n    +materialized: table\n",
        ),
        (
            "models/dim_customers_v1.sql",
            "select 1 as customer_id, 'Netherlands' as country_name, 'x' as extra",
        ),
        (
            "models/dim_customers.sql",
            "select 1 as customer_id, 'NL' as country_code",
        ),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: dim_customers\n    latest_version: 2\n    columns:\n      - name: customer_id\n        data_tests: [unique, not_null]\n      - name: country_name\n    versions:\n      - v: 1\n        deprecation_date: 2020-01-01\n        columns:\n          - include: all\n          - name: extra\n      - v: 2\n        defined_in: dim_customers\n        columns:\n          - include: all\n            exclude: [country_name]\n          - name: country_code\n",
        ),
        (
            "models/latest_reader.sql",
            "select * from {{ ref('dim_customers') }}",
        ),
        (
            "models/v1_reader.sql",
            "select * from {{ ref('dim_customers', v=1) }}",
        ),
    ]);
    let dir = p.path();
    let out = build_ok(dir, &[]);
    assert!(out.contains("PASS=8"), "{out}");
    // The relations are `<model>_v<v>`; a plain ref() reads the latest.
    assert_eq!(
        rows(dir, "select * from {{ ref('latest_reader') }}"),
        vec![json!({"customer_id": 1, "country_code": "NL"})]
    );
    assert_eq!(
        rows(dir, "select country_name from main.dim_customers_v1"),
        vec![json!({"country_name": "Netherlands"})]
    );
    // The version past its deprecation date warns, and so does a reference.
    assert!(
        out.contains("warning[R306]: model dim_customers.v1 has passed its deprecation date"),
        "{out}"
    );
    assert!(
        out.contains("`v1_reader` refers to dim_customers.v1, which was deprecated on 2020-01-01"),
        "{out}"
    );

    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("target/manifest.json")).expect("manifest"),
    )
    .expect("json");
    let v1 = &manifest["nodes"]["model.mv.dim_customers.v1"];
    assert_eq!(v1["name"], "dim_customers");
    assert_eq!(v1["alias"], "dim_customers_v1");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["latest_version"], 2);
    assert_eq!(v1["deprecation_date"], "2020-01-01");
    assert_eq!(v1["fqn"], json!(["mv", "dim_customers", "v1"]));
    let columns = |n: &serde_json::Value| {
        let mut c: Vec<String> = n["columns"]
            .as_object()
            .expect("columns")
            .keys()
            .cloned()
            .collect();
        c.sort();
        c
    };
    assert_eq!(columns(v1), ["country_name", "customer_id", "extra"]);
    assert_eq!(
        columns(&manifest["nodes"]["model.mv.dim_customers.v2"]),
        ["country_code", "customer_id"]
    );
    assert_eq!(
        manifest["nodes"]["model.mv.v1_reader"]["depends_on"]["nodes"],
        json!(["model.mv.dim_customers.v1"])
    );

    let ls = |sel: &str| {
        let run = rdbt(dir, &["ls", "-q", "-s", sel, "--resource-type", "model"]);
        assert_eq!(run.code, 0, "{}", run.transcript());
        run.stdout.lines().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(ls("dim_customers.v1"), ["mv.dim_customers.v1"]);
    assert_eq!(ls("dim_customers_v2"), ["mv.dim_customers.v2"]);
    assert_eq!(ls("version:latest"), ["mv.dim_customers.v2"]);
    assert_eq!(ls("version:old"), ["mv.dim_customers.v1"]);
    assert_eq!(
        ls("dim_customers"),
        ["mv.dim_customers.v1", "mv.dim_customers.v2"]
    );

    // A version that does not exist says which do.
    std::fs::write(
        dir.join("models/bad.sql"),
        "select * from {{ ref('dim_customers', v=7) }}",
    )
    .expect("write");
    let run = rdbt(dir, &["parse"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("refers to version 7 of model `dim_customers`, which has no such version"),
        "{}",
        run.transcript()
    );
    // A version whose file is missing is an error at its YAML entry.
    std::fs::remove_file(dir.join("models/bad.sql")).expect("rm");
    let yaml = std::fs::read_to_string(dir.join("models/schema.yml")).expect("read");
    std::fs::write(
        dir.join("models/schema.yml"),
        yaml.replace("      - v: 2\n", "      - v: 3\n      - v: 2\n"),
    )
    .expect("write");
    let run = rdbt(dir, &["parse"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout.contains(
            "version 3 of model `dim_customers` has no file: no `dim_customers_v3.sql` in the model paths"
        ) && run.stdout.contains("models/schema.yml:"),
        "{}",
        run.transcript()
    );
}

/// #29 feature: dbt 1.9 snapshots defined in YAML (`relation:` and
/// `config:`), with `dbt_valid_to_current` and `hard_deletes: new_record`.
#[test]
fn yaml_snapshots_with_valid_to_current_and_new_record_deletes() {
    let p = project(&[
        ("rdbt_project.yml", "name: ys\n"),
        (
            "seeds/orders.csv",
            "id,status,updated_at\n1,new,2024-01-01 00:00:00\n2,new,2024-01-01 00:00:00\n",
        ),
        (
            "snapshots/snapshots.yml",
            "snapshots:\n  - name: orders_snapshot\n    relation: ref('orders')\n    config:\n      unique_key: id\n      strategy: timestamp\n      updated_at: updated_at\n      dbt_valid_to_current: \"cast('9999-12-31' as timestamp)\"\n      hard_deletes: new_record\n    columns:\n      - name: id\n        data_tests: [not_null]\n",
        ),
    ]);
    let dir = p.path();
    let history = || {
        rows(
            dir,
            "select id, status, cast(dbt_valid_to as varchar) as valid_to, dbt_is_deleted from {{ ref('orders_snapshot') }} order by id, dbt_valid_from",
        )
    };
    let current = "9999-12-31T00:00:00";
    let out = build_ok(dir, &[]);
    assert!(out.contains("PASS=3"), "{out}");
    assert_eq!(
        history(),
        vec![
            json!({"id": 1, "status": "new", "valid_to": current, "dbt_is_deleted": "False"}),
            json!({"id": 2, "status": "new", "valid_to": current, "dbt_is_deleted": "False"}),
        ]
    );
    // 1 changes, 2 is deleted: 2's row closes and a deleted row opens.
    std::fs::write(
        dir.join("seeds/orders.csv"),
        "id,status,updated_at\n1,paid,2024-02-01 00:00:00\n",
    )
    .expect("write");
    build_ok(dir, &[]);
    let rows_now = history();
    assert_eq!(rows_now.len(), 4, "{rows_now:?}");
    assert_eq!(rows_now[0]["valid_to"], "2024-02-01T00:00:00");
    assert_eq!(rows_now[1]["status"], "paid");
    assert_eq!(rows_now[1]["valid_to"], current);
    assert_ne!(rows_now[2]["valid_to"], current);
    assert_eq!(rows_now[3]["dbt_is_deleted"], "True");
    assert_eq!(rows_now[3]["valid_to"], current);
    // 2 comes back: the deleted row closes and a live one opens; a rerun
    // with nothing new changes nothing.
    std::fs::write(
        dir.join("seeds/orders.csv"),
        "id,status,updated_at\n1,paid,2024-02-01 00:00:00\n2,back,2024-01-01 00:00:00\n",
    )
    .expect("write");
    build_ok(dir, &[]);
    build_ok(dir, &[]);
    let rows_now = history();
    assert_eq!(rows_now.len(), 5, "{rows_now:?}");
    assert_ne!(rows_now[3]["valid_to"], current);
    assert_eq!(
        rows_now[4],
        json!({"id": 2, "status": "back", "valid_to": current, "dbt_is_deleted": "False"})
    );
    // The node is dbt's: a snapshot defined in the YAML file.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("target/manifest.json")).expect("manifest"),
    )
    .expect("json");
    let node = &manifest["nodes"]["snapshot.ys.orders_snapshot"];
    assert_eq!(node["original_file_path"], "snapshots/snapshots.yml");
    assert_eq!(node["depends_on"]["nodes"], json!(["seed.ys.orders"]));
}

/// A tiny static HTTP server for the hub tests: serves `root`'s files
/// until the process ends; returns its base URL.
fn serve_dir(root: std::path::PathBuf) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                // Headers, up to the blank line.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let file = root.join(path.trim_start_matches('/'));
                let mut out = &stream;
                match std::fs::read(&file) {
                    Ok(body) => {
                        let _ = write!(
                            out,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = out.write_all(&body);
                    }
                    Err(_) => {
                        let _ = write!(
                            out,
                            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                    }
                }
            });
        }
    });
    url
}

/// One hub package version: a tarball with a top folder (as GitHub's
/// are) and its entry in the package's hub JSON.
fn hub_version(
    hub: &std::path::Path,
    url: &str,
    package: &str,
    version: &str,
    deps: serde_json::Value,
) -> (String, serde_json::Value) {
    let name = package.rsplit('/').next().expect("name");
    let work = tempfile::tempdir().expect("work");
    let top = work.path().join(format!("{name}-{version}"));
    std::fs::create_dir_all(top.join("macros")).expect("mkdir");
    std::fs::write(
        top.join("dbt_project.yml"),
        format!("name: {name}\nversion: '{version}'\nconfig-version: 2\n"),
    )
    .expect("write");
    std::fs::write(
        top.join("macros/version.sql"),
        format!("{{% macro which_{name}() %}}'{name} {version}'{{% endmacro %}}"),
    )
    .expect("write");
    let tarball = format!("{name}-{version}.tar.gz");
    std::fs::create_dir_all(hub.join("tarballs")).expect("mkdir");
    let status = std::process::Command::new("tar")
        .arg("czf")
        .arg(hub.join("tarballs").join(&tarball))
        .arg("-C")
        .arg(work.path())
        .arg(format!("{name}-{version}"))
        .status()
        .expect("run tar");
    assert!(status.success());
    (
        version.to_string(),
        json!({
            "id": format!("{package}/{version}"),
            "name": name,
            "version": version,
            "packages": deps,
            "downloads": {"tarball": format!("{url}tarballs/{tarball}")},
        }),
    )
}

fn write_hub_package(
    hub: &std::path::Path,
    package: &str,
    versions: &[(String, serde_json::Value)],
) {
    let path = hub.join("api/v1").join(format!("{package}.json"));
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let versions: serde_json::Map<String, serde_json::Value> = versions.iter().cloned().collect();
    std::fs::write(
        path,
        json!({"name": package.rsplit('/').next(), "namespace": package.split('/').next(), "versions": versions})
            .to_string(),
    )
    .expect("write");
}

/// #29 feature: packages from the dbt hub resolve through its JSON API
/// (here a local server with a recorded index and tarballs): every
/// constraint in the tree is met by the highest version, the hub's own
/// dependencies come along, `package-lock.yml` pins the result, and an
/// unsatisfiable range says which constraints clash.
#[test]
fn hub_packages_resolve_install_and_lock() {
    let hub = tempfile::tempdir().expect("hub");
    let url = serve_dir(hub.path().to_path_buf());
    let helpers: Vec<_> = ["1.0.0", "1.2.0", "2.0.0", "2.1.0-rc1"]
        .iter()
        .map(|v| hub_version(hub.path(), &url, "acme/helpers", v, json!([])))
        .collect();
    write_hub_package(hub.path(), "acme/helpers", &helpers);
    let wrapper = vec![hub_version(
        hub.path(),
        &url,
        "acme/wrapper",
        "1.0.0",
        json!([{"package": "acme/helpers", "version": [">=1.0.0", "<2.0.0"]}]),
    )];
    write_hub_package(hub.path(), "acme/wrapper", &wrapper);

    let p = project(&[
        ("rdbt_project.yml", "name: uses_hub\n"),
        (
            "packages.yml",
            "packages:\n  - package: acme/wrapper\n    version: 1.0.0\n  - package: acme/helpers\n    version: \">=1.1.0\"\n",
        ),
        (
            "models/m.sql",
            "select {{ helpers.which_helpers() }} as helpers, {{ wrapper.which_wrapper() }} as wrapper",
        ),
    ]);
    let dir = p.path();
    let env = [("DBT_PACKAGE_HUB_URL", url.as_str())];
    let deps = common::rdbt_env(dir, &["deps"], &env);
    assert_eq!(deps.code, 0, "{}", deps.transcript());
    assert_eq!(
        rows(
            dir,
            "select {{ helpers.which_helpers() }} as h, {{ wrapper.which_wrapper() }} as w"
        ),
        vec![json!({"h": "helpers 1.2.0", "w": "wrapper 1.0.0"})],
        "the highest helpers meeting >=1.1.0 (packages.yml) and <2.0.0 (wrapper)"
    );
    let lock = std::fs::read_to_string(dir.join("package-lock.yml")).expect("lock");
    assert!(
        lock.contains("package: \"acme/helpers\"") && lock.contains("\"1.2.0\""),
        "{lock}"
    );
    assert!(lock.contains("name: \"wrapper\""), "{lock}");
    build_ok(dir, &[]);

    // A newer helpers on the hub changes nothing while the lock matches.
    let mut more = helpers.clone();
    more.push(hub_version(
        hub.path(),
        &url,
        "acme/helpers",
        "1.3.0",
        json!([]),
    ));
    write_hub_package(hub.path(), "acme/helpers", &more);
    std::fs::remove_dir_all(dir.join("dbt_packages")).expect("rm");
    let again = common::rdbt_env(dir, &["deps"], &env);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert_eq!(
        rows(dir, "select {{ helpers.which_helpers() }} as h"),
        vec![json!({"h": "helpers 1.2.0"})]
    );

    // Constraints no version meets name themselves and who set them.
    std::fs::write(
        dir.join("packages.yml"),
        "packages:\n  - package: acme/wrapper\n    version: 1.0.0\n  - package: acme/helpers\n    version: \">=2.0.0\"\n",
    )
    .expect("write");
    let clash = common::rdbt_env(dir, &["deps"], &env);
    assert_eq!(clash.code, 2, "{}", clash.transcript());
    let out = format!("{}{}", clash.stdout, clash.stderr);
    assert!(
        out.contains("no version of `acme/helpers` satisfies >=2.0.0 (packages.yml), >=1.0.0 (package `acme/wrapper` 1.0.0), <2.0.0 (package `acme/wrapper` 1.0.0)"),
        "{out}"
    );
    // An unknown package is the hub's 404, said as such.
    std::fs::write(
        dir.join("packages.yml"),
        "packages:\n  - package: acme/nothing\n    version: 1.0.0\n",
    )
    .expect("write");
    let missing = common::rdbt_env(dir, &["deps"], &env);
    assert_eq!(missing.code, 2, "{}", missing.transcript());
    assert!(
        format!("{}{}", missing.stdout, missing.stderr).contains("404"),
        "{}",
        missing.transcript()
    );
}

/// #29 feature: BigQuery's semantics on the local target: FLOAT64/NUMERIC
/// to INT64 rounds halves away from zero, and the functions that take a
/// time zone run with the IANA database.
#[test]
fn bigquery_rounding_and_time_zones_on_the_local_target() {
    let p = project(&[("rdbt_project.yml", "name: bqs\nsql_dialect: bigquery\n")]);
    let got = rows(
        p.path(),
        "select cast(2.5 as int64) as a, cast(-2.5 as int64) as b, cast(1.4 as int64) as c, \
         safe_cast('x' as int64) as d, cast('42' as int64) as e, \
         cast(cast(2.5 as numeric) as int64) as f, \
         date(timestamp '2024-01-01 03:00:00', 'America/New_York') as g, \
         cast(datetime(timestamp '2024-07-01 12:00:00', 'Europe/Amsterdam') as string) as h, \
         cast(timestamp('2024-07-01 14:00:00', 'Europe/Amsterdam') as string) as i, \
         extract(hour from timestamp '2024-07-01 12:00:00' at time zone 'Asia/Tokyo') as j, \
         format_timestamp('%Y-%m-%d %H:%M', timestamp '2024-01-01 03:00:00', 'America/Los_Angeles') as k, \
         current_date('UTC') = current_date() as l",
    );
    assert_eq!(
        got,
        vec![json!({
            "a": 3, "b": -3, "c": 1, "e": 42, "f": 3, "g": "2023-12-31",
            "h": "2024-07-01T14:00:00", "i": "2024-07-01T12:00:00", "j": 21,
            "k": "2023-12-31 19:00", "l": true,
        })]
    );
    let run = rdbt(
        p.path(),
        &["show", "--inline", "select cast(9.3e30 as int64) as z"],
    );
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout.contains("out of range for INT64"),
        "{}",
        run.transcript()
    );
}

/// #28 item 11: rendered text keeps whitespace exactly as dbt's Jinja2
/// does (`-` trimming, no trim_blocks or lstrip_blocks, newlines after
/// tags). The expected texts are Jinja2 3.1's renders of the same sources.
#[test]
fn whitespace_renders_as_jinja2_does() {
    let cases: &[(&str, &str)] = &[
        ("a\n{% if true %}\n  b\n{% endif %}\nc", "a\n\n  b\n\nc"),
        ("a\n{%- if true %}\n  b\n{%- endif %}\nc", "a\n  b\nc"),
        (
            "{% for x in [1,2,3] %}\n  {{ x }},\n{% endfor %}\nend",
            "\n  1,\n\n  2,\n\n  3,\n\nend",
        ),
        (
            "{%- for x in [1,2,3] -%}\n  {{ x }}{{ ',' if not loop.last }}\n{%- endfor -%}\nend",
            "1,2,3end",
        ),
        (
            "{% set cols = ['a', 'b'] %}\nselect\n{%- for c in cols %}\n    {{ c }}{% if not loop.last %},{% endif %}\n{%- endfor %}\nfrom t",
            "\nselect\n    a,\n    b\nfrom t",
        ),
        (
            "{% macro m(x) %}\n  value {{ x }}\n{% endmacro %}\n[{{ m(1) }}]",
            "\n[\n  value 1\n]",
        ),
        (
            "{% macro m(x) -%}\n  value {{ x }}\n{%- endmacro %}\n[{{ m(1) }}]",
            "\n[value 1]",
        ),
        ("x  {# comment #}  y\n  {#- c -#}  z", "x    yz"),
        ("{% raw %}{{ a }}{% endraw %}  {{ 'q' }}", "{{ a }}  q"),
        (
            "  {% if false %}no{% else %}  yes  {% endif %}  ",
            "    yes    ",
        ),
        (
            "{% set x %}\n  inner\n{% endset %}[{{ x }}]",
            "[\n  inner\n]",
        ),
        (
            "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }}\n{% endfor %}",
            "a=1\nb=2\n",
        ),
        ("line1\n\n\n{{ 'x' }}\n\n", "line1\n\n\nx\n"),
        (
            "{{ '  padded  ' }}|{{ '  padded  ' | trim }}|{{ 'Ab' | lower }}",
            "  padded  |padded|ab",
        ),
        ("{% filter upper %}\nhello\n{% endfilter %}", "\nHELLO\n"),
    ];
    let files: Vec<(String, String)> = cases
        .iter()
        .enumerate()
        .map(|(i, (source, _))| (format!("analyses/case_{i}.sql"), source.to_string()))
        .collect();
    let mut all: Vec<(&str, &str)> = vec![("rdbt_project.yml", "name: ws\n")];
    all.extend(files.iter().map(|(p, s)| (p.as_str(), s.as_str())));
    let p = project(&all);
    let run = rdbt(p.path(), &["compile", "--static-analysis", "off"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    for (i, (source, expected)) in cases.iter().enumerate() {
        let got = std::fs::read_to_string(
            p.path()
                .join(format!("target/compiled/ws/analyses/case_{i}.sql")),
        )
        .expect("compiled");
        assert_eq!(got, *expected, "case {i}: {source:?}");
    }
}

/// #29 feature: an enforced contract reports integer and float widths as
/// dbt-duckdb does (INTEGER is not BIGINT, FLOAT is not DOUBLE); a constant
/// such as `1 as one` (INTEGER in DuckDB) is not held to its width.
#[test]
fn contracts_check_integer_and_float_widths() {
    let p = duckdb_project(&[
        ("seeds/amounts.csv", "id,amount\n1,10.5\n2,3.0\n"),
        (
            "models/m.sql",
            "{{ config(materialized='table') }}\nselect id, cast(id as int) as small_id, 1 as one, amount / 2 as half from {{ ref('amounts') }}",
        ),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: m\n    config:\n      contract: {enforced: true}\n    columns:\n      - {name: id, data_type: integer}\n      - {name: small_id, data_type: bigint}\n      - {name: one, data_type: integer}\n      - {name: half, data_type: float}\n",
        ),
    ]);
    let dir = p.path();
    assert_eq!(rdbt(dir, &["seed"]).code, 0);
    let run = rdbt(dir, &["run", "-s", "m"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    for line in [
        "id: declared integer (INTEGER), the model produces BIGINT: data type mismatch",
        "small_id: declared bigint (BIGINT), the model produces INTEGER: data type mismatch",
        "half: declared float (FLOAT), the model produces DOUBLE: data type mismatch",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.transcript());
    }
    assert!(
        !run.stdout.contains("one: declared"),
        "{}",
        run.transcript()
    );
    std::fs::write(
        dir.join("models/schema.yml"),
        "version: 2\nmodels:\n  - name: m\n    config:\n      contract: {enforced: true}\n    columns:\n      - {name: id, data_type: bigint}\n      - {name: small_id, data_type: int}\n      - {name: one, data_type: integer}\n      - {name: half, data_type: double}\n",
    )
    .expect("write");
    let run = rdbt(dir, &["run", "-s", "m"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
}

/// The adapter's relation look-ups and changes that packages call, on the
/// embedded warehouse (tests/bigquery.rs runs the same macro on BigQuery).
#[test]
fn adapter_lists_renames_and_plans_on_the_embedded_warehouse() {
    let p = duckdb_project(&[
        (
            "models/m.sql",
            "{{ config(materialized='table') }}\nselect 1 as id",
        ),
        ("models/v.sql", "select * from {{ ref('m') }}"),
        ("macros/inspect.sql", common::INSPECT_MACRO),
    ]);
    build_ok(p.path(), &[]);
    let out = rdbt(p.path(), &["run-operation", "inspect"]);
    assert_eq!(out.code, 0, "{}", out.transcript());
    for line in [
        "relations: m,v",
        "schema exists: True False",
        "columns: a,b",
    ] {
        assert!(out.stdout.contains(line), "{line}: {}", out.transcript());
    }
    let renamed = rdbt(p.path(), &["run-operation", "rename_m"]);
    assert_eq!(renamed.code, 0, "{}", renamed.transcript());
    assert!(
        renamed.stdout.contains("renamed: True True"),
        "{}",
        renamed.transcript()
    );
    // `m` is gone now: renaming it again says so instead of doing nothing.
    let again = rdbt(p.path(), &["run-operation", "rename_m"]);
    assert_eq!(again.code, 2, "{}", again.transcript());
    assert!(
        again
            .transcript()
            .contains("adapter.rename_relation needs two relations"),
        "{}",
        again.transcript()
    );
}

/// Config values the run path could not use are parse errors at their
/// line: a `hard_deletes` that is not one of dbt's, a `partition_by` that
/// is not a mapping, a column or a list.
#[test]
fn bad_run_configs_are_reported_at_parse() {
    let p = duckdb_project(&[
        (
            "models/m.sql",
            "{{ config(materialized='table', partition_by={'data_type': 'date'}) }}\nselect 1 as id",
        ),
        (
            "snapshots/s.sql",
            "{% snapshot s %}\n{{ config(target_schema='snap', unique_key='id', strategy='check', check_cols='all', hard_deletes='forget') }}\nselect 1 as id\n{% endsnapshot %}\n",
        ),
    ]);
    let out = rdbt(p.path(), &["parse"]);
    assert_eq!(out.code, 2, "{}", out.transcript());
    let text = out.transcript();
    assert!(
        text.contains("`partition_by` needs a `field`") && text.contains("models/m.sql:1"),
        "{text}"
    );
    assert!(
        text.contains("`forget` is not a valid `hard_deletes`")
            && text.contains("snapshots/s.sql:2"),
        "{text}"
    );
}
