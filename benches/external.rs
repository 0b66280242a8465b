//! External-source benchmark (issue 11): about 1 GB of Parquet read in place
//! through a model (`rdbt run` of one table model over an `external:`
//! source: process start, parse, static analysis, the check of every file,
//! the query and writing its result) against the same query run by
//! DataFusion directly on the same files in this process. The target is an
//! overhead under 5%.
//!
//! Run: `cargo bench --bench external` (optionally `-- <MB>`, default 1024).

mod common;

use datafusion::prelude::{ParquetReadOptions, SessionContext};
use std::time::{Duration, Instant};

const QUERY: &str = "select city, count(*) as orders, sum(amount) as revenue, avg(customer_id) as avg_customer, max(note) as last_note from {} group by city";

fn main() {
    // The bench runs itself as the DataFusion side, so both sides pay for a
    // fresh process (start, runtime, first-touch memory) the same way.
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--direct") {
        let files = std::path::PathBuf::from(&args[at + 1]);
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(datafusion_directly(&files));
        return;
    }
    let megabytes: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1024);
    let exe = env!("CARGO_BIN_EXE_rdbt");
    // RDBT_BENCH_DIR keeps the project and its data for a closer look.
    let tmp = tempfile::tempdir().expect("dir");
    let root = std::env::var_os("RDBT_BENCH_DIR")
        .map_or_else(|| tmp.path().to_path_buf(), std::path::PathBuf::from);
    let dir = Kept(root);
    let files = dir.path().join("lake/orders");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let bytes = if files.join("part-00000-c000.snappy.parquet").is_file() {
        std::fs::read_dir(&files)
            .expect("dir")
            .map(|e| e.expect("entry").metadata().expect("meta").len())
            .sum()
    } else {
        rt.block_on(generate(&files, megabytes))
    };
    println!(
        "data: {:.0} MB of Parquet in {} files",
        bytes as f64 / 1e6,
        std::fs::read_dir(&files).expect("dir").count()
    );

    std::fs::write(dir.path().join("rdbt_project.yml"), "name: extbench\n").expect("write");
    std::fs::create_dir_all(dir.path().join("models")).expect("mkdir");
    std::fs::write(
        dir.path().join("models/sources.yml"),
        "version: 2\nsources:\n  - name: lake\n    tables:\n      - name: orders\n        external: {location: lake/orders/, format: parquet}\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("models/by_city.sql"),
        format!(
            "{{{{ config(materialized='table') }}}}\n{}\n",
            QUERY.replace("{}", "{{ source('lake', 'orders') }}")
        ),
    )
    .expect("write");
    // A first run warms the page cache for both sides.
    common::run_once(exe, dir.path(), &["run", "-q"]);

    let me = std::env::current_exe().expect("bench binary");
    let mut direct = Vec::new();
    let mut in_process = Vec::new();
    let mut through_rdbt = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        let status = std::process::Command::new(&me)
            .arg("--direct")
            .arg(&files)
            .status()
            .expect("spawn");
        assert!(status.success());
        direct.push(started.elapsed());
        in_process.push(rt.block_on(datafusion_directly(&files)));
        through_rdbt.push(common::run_once(exe, dir.path(), &["run", "-q"]).0);
    }
    let d = median(&mut direct);
    let r = median(&mut through_rdbt);
    let i = median(&mut in_process);
    println!(
        "DataFusion directly, a process per run: median {:.2} s ({})",
        d.as_secs_f64(),
        list(&direct)
    );
    println!(
        "DataFusion directly, in this warm process: median {:.2} s ({})",
        i.as_secs_f64(),
        list(&in_process)
    );
    println!(
        "rdbt run (model over the external source): median {:.2} s ({})",
        r.as_secs_f64(),
        list(&through_rdbt)
    );
    println!(
        "overhead: {:+.1}% against DataFusion in a process of its own (target < 5%); {:+.1}% against the warm process",
        (r.as_secs_f64() / d.as_secs_f64() - 1.0) * 100.0,
        (r.as_secs_f64() / i.as_secs_f64() - 1.0) * 100.0
    );
}

async fn datafusion_directly(files: &std::path::Path) -> Duration {
    let started = Instant::now();
    let ctx = SessionContext::new();
    ctx.register_parquet(
        "orders",
        format!("{}/", files.display()),
        ParquetReadOptions::default(),
    )
    .await
    .expect("register");
    let rows = ctx
        .sql(&QUERY.replace("{}", "orders"))
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    assert!(!rows.is_empty());
    started.elapsed()
}

/// Writes about `megabytes` of Parquet that does not compress away
/// (random amounts and text), in files of about 128 MB as Spark would.
async fn generate(dir: &std::path::Path, megabytes: u64) -> u64 {
    std::fs::create_dir_all(dir).expect("mkdir");
    let ctx = SessionContext::new();
    // About 31 bytes a row once encoded.
    let rows_per_file: u64 = 2_500_000;
    let files = (megabytes * 1_000_000 / 31 / rows_per_file).max(1);
    let mut total = 0;
    for f in 0..files {
        let path = dir.join(format!("part-{f:05}-c000.snappy.parquet"));
        let sql = format!(
            "copy (select value as order_id, cast(random() * 1000000 as bigint) as customer_id, random() * 100 as amount, \
             concat('city_', cast(value % 40 as varchar)) as city, md5(cast(value as varchar)) as note \
             from generate_series({}, {}) as t(value)) to '{}' stored as parquet",
            f * rows_per_file,
            (f + 1) * rows_per_file - 1,
            path.display()
        );
        ctx.sql(&sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("write");
        total += std::fs::metadata(&path).expect("file").len();
    }
    total
}

struct Kept(std::path::PathBuf);

impl Kept {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn list(v: &[Duration]) -> String {
    v.iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}
