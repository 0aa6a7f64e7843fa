//! Probes the compiler. From Rust 1.78, `#[diagnostic::on_unimplemented]` gives handlers and
//! thread modes readable errors, and std implements `AsFd` for unsized boxes, which
//! `Box<dyn Subscriber>` needs; older compilers, down to the MSRV, build without them.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|v| v.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()));
    // Cargo takes these declarations from 1.80 on, and warns about them before.
    if minor.is_some_and(|m| m >= 80) {
        println!("cargo:rustc-check-cfg=cfg(barepoll_diagnostics)");
        println!("cargo:rustc-check-cfg=cfg(barepoll_unsized_box)");
    }
    if minor.is_some_and(|m| m >= 78) {
        println!("cargo:rustc-cfg=barepoll_diagnostics");
        println!("cargo:rustc-cfg=barepoll_unsized_box");
    }
}
