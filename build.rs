//! Probes the compiler: `#[diagnostic::on_unimplemented]` (Rust 1.78+) gives handlers and
//! thread modes readable errors; older compilers, down to the MSRV, build without it.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-check-cfg=cfg(barepoll_diagnostics)");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|v| v.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()));
    if minor.is_some_and(|m| m >= 78) {
        println!("cargo:rustc-cfg=barepoll_diagnostics");
    }
}
