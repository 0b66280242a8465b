//! Link settings of the `rdbt` binary.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The binary carries about 250,000 relative relocations (DataFusion's
    // and arrow's tables of functions), which the dynamic loader read as a
    // 6 MB table at every start. Packed (DT_RELR: binutils 2.38+, glibc
    // 2.36+, as on Debian 12) they are a few kilobytes: `rdbt --version`
    // went from 11.9 to 10.4 ms (`perf stat -r 30`).
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
