//! `rdbt docs generate` / `rdbt docs serve` (issue 10): the catalog, the
//! dashboards' data, the static site, the server's safety, and the site in
//! a real browser (Debian's headless Chromium driven by playwright-core,
//! tests/browser/docs.mjs) on the example project and on 10,000 and 100,000
//! node projects.

mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn rdbt(dir: &Path, args: &[&str]) -> common::Run {
    common::rdbt(dir, args)
}

/// The example project, landed, built, freshness-checked and documented.
fn documented_example() -> tempfile::TempDir {
    let dir = common::example_project();
    for args in [
        &["ingest", "--sample", "150"][..],
        &["build"],
        &["source", "freshness"],
        &["docs", "generate"],
    ] {
        let run = rdbt(dir.path(), args);
        // Freshness may warn or error on made-up timestamps; the others must pass.
        if args[0] != "source" {
            assert_eq!(run.code, 0, "{args:?}\n{}", run.transcript());
        }
    }
    dir
}

fn target(dir: &Path) -> PathBuf {
    // The example project keeps its artifacts under target/rdbt.
    let nested = dir.join("target/rdbt");
    if nested.join("manifest.json").is_file() {
        nested
    } else {
        dir.join("target")
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

#[test]
fn docs_generate_writes_the_catalog_the_dashboards_and_the_site() {
    let dir = documented_example();
    let target = target(dir.path());
    let catalog = read_json(&target.join("catalog.json"));
    assert_eq!(
        catalog["metadata"]["dbt_schema_version"],
        "https://schemas.getdbt.com/dbt/catalog/v1.json"
    );
    let fact = &catalog["nodes"]["model.retention.fact_order"];
    assert_eq!(fact["metadata"]["type"], "BASE TABLE");
    assert_eq!(fact["columns"]["order_id"]["index"], 1);
    assert!(fact["stats"]["row_count"]["value"].as_u64().unwrap() > 100);
    assert!(fact["stats"]["num_bytes"]["value"].as_u64().unwrap() > 1000);
    let rows: u64 = common::rows(
        dir.path(),
        "select count(*) as n from analytics_silver.fact_order",
    )[0]["n"]
        .as_u64()
        .unwrap();
    assert_eq!(
        fact["stats"]["row_count"]["value"], rows,
        "row counts come from the table"
    );
    let events = &catalog["sources"]["source.retention.kafka.customer_activity_data"];
    assert!(
        events["columns"]["event_type"]["type"].is_string(),
        "{events}"
    );

    let dashboards = read_json(&target.join("dashboards.json"));
    let charts = dashboards["exposure.retention.retention_dashboard"]["charts"]
        .as_array()
        .unwrap();
    assert_eq!(charts.len(), 6);
    for c in charts {
        assert!(c["error"].is_null(), "{c}");
        assert!(!c["rows"].as_array().unwrap().is_empty(), "{c}");
    }
    // The CLV distribution is bucketed: 20 bars whose counts add up to the customers.
    let clv = &charts[3];
    assert_eq!(clv["rows"].as_array().unwrap().len(), 20);
    let customers: u64 = clv["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_u64().unwrap())
        .sum();
    let expected = common::rows(
        dir.path(),
        "select count(projected_revenue_12m) as n from analytics_gold.mart_customer_lifetime_value",
    )[0]["n"]
        .as_u64()
        .unwrap();
    assert_eq!(customers, expected);

    let site = target.join("docs");
    for file in [
        "index.html",
        "app.js",
        "app.css",
        "data/index.js",
        "data/shard-0.js",
    ] {
        assert!(site.join(file).is_file(), "{file} is missing");
    }
    // Nothing from the internet: no absolute URLs in the page or its code.
    for file in ["index.html", "app.js", "app.css"] {
        let text = std::fs::read_to_string(site.join(file)).unwrap();
        assert!(
            !text.contains("src=\"http")
                && !text.contains("href=\"http")
                && !text.contains("@import"),
            "{file}"
        );
    }
    let index = std::fs::read_to_string(site.join("data/index.js")).unwrap();
    assert!(index.starts_with("rdbtIndex("));
    assert!(index.contains("model.retention.fact_order"));
}

#[test]
fn a_bad_chart_is_an_error_naming_the_exposure_file_and_line_and_keeps_the_old_site() {
    let dir = common::project(&[
        ("rdbt_project.yml", "name: demo\n"),
        ("models/orders.sql", "select 1 as id, 10.0 as amount\n"),
        (
            "models/exposures.yml",
            &board("{title: Amounts, type: bar, model: orders, columns: [id, amount]}"),
        ),
    ]);
    assert_eq!(rdbt(dir.path(), &["build"]).code, 0);
    let ok = rdbt(dir.path(), &["docs", "generate"]);
    assert_eq!(ok.code, 0, "{}", ok.transcript());
    let index = dir.path().join("target/docs/data/index.js");
    let before = std::fs::read(&index).unwrap();

    std::fs::write(
        dir.path().join("models/exposures.yml"),
        board("{title: Amounts, type: pie, model: orders, columns: [id]}"),
    )
    .unwrap();
    let bad = rdbt(dir.path(), &["docs", "generate"]);
    assert_eq!(bad.code, 2, "{}", bad.transcript());
    let text = bad.transcript();
    assert!(text.contains("exposure `board`: chart 1 of `charts`: type `pie` is not one of line, bar, heatmap, table"), "{text}");
    assert!(text.contains("exposures.yml:3:"), "{text}");
    assert_eq!(
        std::fs::read(&index).unwrap(),
        before,
        "the previous site is kept"
    );

    std::fs::write(
        dir.path().join("models/exposures.yml"),
        board("{title: Amounts, type: bar, model: order, columns: [id]}"),
    )
    .unwrap();
    let missing = rdbt(dir.path(), &["docs", "generate"]);
    assert_eq!(missing.code, 2, "{}", missing.transcript());
    assert!(
        missing
            .transcript()
            .contains("reads model `order`, which does not exist"),
        "{}",
        missing.transcript()
    );

    // A chart over a column that is not there: the site is written, the
    // chart carries the error, and the console warns.
    std::fs::write(
        dir.path().join("models/exposures.yml"),
        board("{title: Amounts, type: bar, model: orders, columns: [nope]}"),
    )
    .unwrap();
    let broken = rdbt(dir.path(), &["docs", "generate"]);
    assert_eq!(broken.code, 0, "{}", broken.transcript());
    assert!(
        broken.transcript().contains("chart `Amounts`"),
        "{}",
        broken.transcript()
    );
    let data = read_json(&dir.path().join("target/dashboards.json"));
    assert!(
        data["exposure.demo.board"]["charts"][0]["error"].is_string(),
        "{data}"
    );
}

/// An exposures file whose one dashboard has `chart` (a YAML flow mapping).
fn board(chart: &str) -> String {
    format!(
        "version: 2\nexposures:\n  - name: board\n    type: dashboard\n    owner: {{name: me}}\n    depends_on: [ref('orders')]\n    charts:\n      - {chart}\n"
    )
}

/// `rdbt docs serve --port 0` in `dir`; returns the child and its URL.
fn serve(dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbt"))
        .args(["docs", "serve", "--port", "0"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("rdbt docs serve");
    // The console lines before it (what docs generate wrote) come first.
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let url = loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("no `Serving docs at` line in: {seen}");
        }
        if let Some(url) = line.trim().strip_prefix("Serving docs at ") {
            break url.to_string();
        }
        seen.push_str(&line);
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    (child, url)
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(url: &str, raw_path: &str) -> (u16, String) {
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {raw_path} HTTP/1.1\r\nHost: {address}\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    (status, text)
}

#[test]
fn docs_serve_serves_the_site_on_loopback_and_nothing_outside_it() {
    let dir = common::project(&[
        ("rdbt_project.yml", "name: demo\n"),
        ("models/a.sql", "select 1 as id\n"),
    ]);
    let none = rdbt(dir.path(), &["docs", "serve"]);
    assert_eq!(none.code, 2);
    assert!(
        none.transcript().contains("run `rdbt docs generate` first"),
        "{}",
        none.transcript()
    );
    assert_eq!(rdbt(dir.path(), &["docs", "generate"]).code, 0);
    let (child, url) = serve(dir.path());
    let _guard = Killed(child);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let (status, page) = get(&url, "/");
    assert_eq!(status, 200);
    assert!(page.contains("content-type: text/html"));
    assert_eq!(get(&url, "/data/index.js").0, 200);
    assert_eq!(get(&url, "/nope.js").0, 404);
    for escape in [
        "/../manifest.json",
        "/%2e%2e/manifest.json",
        "/data/..%2f..%2fmanifest.json",
    ] {
        let (status, body) = get(&url, escape);
        assert!(status == 400 || status == 404, "{escape}: {status}");
        assert!(!body.contains("\"nodes\""), "{escape} leaked the manifest");
    }
    let (status, _) = {
        let address = url.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        (text[9..12].parse::<u16>().unwrap(), text)
    };
    assert_eq!(status, 405);
}

/// Chromium and playwright-core, or why not.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("RDBT_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let ready = chromium.is_file() && scripts.join("node_modules/playwright-core").is_dir();
    if ready {
        return Some((chromium, scripts));
    }
    let why = format!(
        "the browser tests need Chromium at {} (apt-get install chromium, or set RDBT_TEST_CHROMIUM) and `npm ci` in tests/browser",
        chromium.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// Runs tests/browser/docs.mjs; returns its measured times.
fn drive(scripts: &Path, chromium: &Path, mode: &str, url: &str, shots: &Path) -> Value {
    drive_with(scripts, chromium, mode, url, shots, None)
}

fn drive_with(
    scripts: &Path,
    chromium: &Path,
    mode: &str,
    url: &str,
    shots: &Path,
    file_url: Option<String>,
) -> Value {
    let out = Command::new("node")
        .arg(scripts.join("docs.mjs"))
        .args([mode, url])
        .arg(shots)
        .args(file_url)
        .env("RDBT_TEST_CHROMIUM", chromium)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{mode}: {stdout}\n{stderr}");
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap();
    eprintln!("browser {mode}: {}", report["times"]);
    report["times"].clone()
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/docs-browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_example_site_works_in_chromium() {
    let Some((chromium, scripts)) = browser() else {
        return;
    };
    let dir = documented_example();
    let (child, url) = serve(dir.path());
    let _guard = Killed(child);
    let index = target(dir.path()).join("docs/index.html");
    let times = drive_with(
        &scripts,
        &chromium,
        "example",
        &url,
        &screenshots().join("example"),
        Some(format!("file://{}", index.display())),
    );
    assert!(times["min_contrast"].as_f64().unwrap() >= 4.5);
}

#[test]
fn a_10000_model_site_works_in_chromium() {
    let Some((chromium, scripts)) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    rdbt::synthetic::write_project(dir.path(), rdbt::synthetic::SyntheticSpec::new(10_000))
        .unwrap();
    let generated = rdbt(dir.path(), &["docs", "generate", "--empty-catalog"]);
    assert_eq!(generated.code, 0, "{}", generated.transcript());
    let (child, url) = serve(dir.path());
    let _guard = Killed(child);
    let times = drive(
        &scripts,
        &chromium,
        "scale",
        &url,
        &screenshots().join("10k"),
    );
    assert!(times["nodes"].as_u64().unwrap() >= 10_000, "{times}");
}

/// 100,000 nodes: the site is made from a manifest written here (parsing a
/// 100,000-model project in a debug build would take minutes), so this
/// checks the site's own limits: it loads and answers.
#[test]
fn a_100000_node_site_loads_in_chromium() {
    let Some((chromium, scripts)) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("manifest.json"), big_manifest(100_000)).unwrap();
    let artifacts = rdbt::docs::Artifacts::read(&target).unwrap();
    rdbt::docs::write_site(&artifacts, &target.join("docs")).unwrap();
    std::fs::write(dir.path().join("rdbt_project.yml"), "name: synthetic\n").unwrap();
    let (child, url) = serve(dir.path());
    let _guard = Killed(child);
    let times = drive(
        &scripts,
        &chromium,
        "scale",
        &url,
        &screenshots().join("100k"),
    );
    assert_eq!(times["nodes"], 100_000);
}

/// A manifest of `n` models named like the synthetic project's, each
/// reading up to three earlier ones, with descriptions and columns.
fn big_manifest(n: usize) -> String {
    let mut out = String::with_capacity(n * 600);
    out.push_str("{\"metadata\":{\"project_name\":\"synthetic\",\"adapter_type\":\"datafusion\",\"generated_at\":\"2026-01-01T00:00:00Z\"},\"sources\":{},\"exposures\":{},\"nodes\":{");
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut next = |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    for i in 0..n {
        let parents: Vec<String> = if i == 0 {
            Vec::new()
        } else {
            (0..1 + next(3))
                .map(|_| format!("\"model.synthetic.model_{:06}\"", i - 1 - next(i.min(200))))
                .collect()
        };
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "\"model.synthetic.model_{i:06}\":{{\"unique_id\":\"model.synthetic.model_{i:06}\",\"name\":\"model_{i:06}\",\"resource_type\":\"model\",\"package_name\":\"synthetic\",\"original_file_path\":\"models/layer_{:03}/model_{i:06}.sql\",\"schema\":\"main\",\"fqn\":[\"synthetic\",\"layer_{:03}\",\"model_{i:06}\"],\"tags\":[\"synthetic\",\"layer_{}\"],\"config\":{{\"materialized\":\"view\"}},\"description\":\"Synthetic model {i} for the docs scale test.\",\"columns\":{{\"id\":{{\"name\":\"id\",\"description\":\"key\"}},\"amount_{}\":{{\"name\":\"amount_{}\",\"description\":\"\"}}}},\"depends_on\":{{\"nodes\":[{}]}},\"raw_code\":\"select 1 as id\"}}",
            i / 1000,
            i / 1000,
            i / 1000,
            i % 97,
            i % 97,
            parents.join(",")
        ));
    }
    out.push_str("}}");
    out
}

/// #29 bug 9: `docs: {show: false}` as a config hides the node from the
/// site, as the top-level property does (and as dbt's site does).
#[test]
fn docs_show_false_in_a_config_hides_the_node() {
    let dir = common::project(&[
        ("rdbt_project.yml", "name: shown\n"),
        ("models/visible.sql", "select 1 as id"),
        ("models/by_config.sql", "select * from {{ ref('visible') }}"),
        (
            "models/in_file.sql",
            "{{ config(docs={'show': false}) }}\nselect * from {{ ref('visible') }}",
        ),
        (
            "models/by_property.sql",
            "select * from {{ ref('visible') }}",
        ),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: by_config\n    config:\n      docs: {show: false}\n  - name: by_property\n    docs: {show: false}\n",
        ),
    ]);
    let run = rdbt(dir.path(), &["docs", "generate", "--no-compile"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let index =
        std::fs::read_to_string(dir.path().join("target/docs/data/index.js")).expect("index");
    assert!(index.contains("model.shown.visible"), "{index}");
    for hidden in ["by_config", "in_file", "by_property"] {
        assert!(
            !index.contains(&format!("model.shown.{hidden}")),
            "{hidden} is shown: {index}"
        );
    }
    let manifest = read_json(&dir.path().join("target/manifest.json"));
    assert_eq!(
        manifest["nodes"]["model.shown.by_config"]["docs"]["show"],
        false
    );
}
