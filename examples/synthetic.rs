//! Writes a synthetic project for benchmarks and scale checks:
//! `cargo run --example synthetic -- <models> <folder>`.

fn main() {
    let mut args = std::env::args().skip(1);
    let models: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let Some(dir) = args.next() else {
        eprintln!("usage: cargo run --example synthetic -- <models> <folder>");
        std::process::exit(2);
    };
    if let Err(e) = rdbt::synthetic::write_project(
        std::path::Path::new(&dir),
        rdbt::synthetic::SyntheticSpec::new(models),
    ) {
        eprintln!("cannot write the project into {dir}: {e}");
        std::process::exit(1);
    }
    println!("wrote a {models}-model project into {dir}");
}
