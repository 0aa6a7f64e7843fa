//! Link flags for a program with no libc: no C start files, no default libraries, static,
//! and whatever keeps the file small.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for arg in [
        "-nostartfiles", // `_start` is barepoll's (its `rt` feature)
        "-nostdlib", // no libc, no libgcc: barepoll's `rt` brings the symbols the compiler needs
        "-static",   // no program interpreter, no dynamic section
        "-Wl,--gc-sections",
        "-Wl,--build-id=none",
        "-Wl,-z,norelro",
        "-Wl,-z,noseparate-code", // no page of padding between headers, code and data
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    // A stripped x86_64 release needs no section headers either (rust-lld can leave them out;
    // GNU ld 2.40, the aarch64 linker here, cannot). The `check` script's unstripped twin
    // (CARGO_PROFILE_RELEASE_STRIP=false) keeps them, for its symbol and section checks.
    println!("cargo:rerun-if-env-changed=CARGO_PROFILE_RELEASE_STRIP");
    let x86_64 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "x86_64");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let stripped = std::env::var("CARGO_PROFILE_RELEASE_STRIP").map_or(true, |s| s != "false");
    if x86_64 && release && stripped {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,nosectionheader");
    }
    // Added to the default linker script: drops the unwind tables.
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{dir}/link.ld");
}
