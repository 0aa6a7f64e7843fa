//! Link flags for a program with no libc: no C start files, no default libraries, static,
//! and whatever keeps the file small.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for arg in [
        "-nostartfiles", // `_start` is ours (src/rt.rs)
        "-nostdlib",     // no libc, no libgcc: rt.rs brings the few symbols the compiler needs
        "-static",       // no program interpreter, no dynamic section
        "-Wl,--gc-sections",
        "-Wl,--build-id=none",
        "-Wl,-z,norelro",
        "-Wl,-z,noseparate-code", // no page of padding between headers, code and data
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    // Added to the default linker script: drops the unwind tables.
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{dir}/link.ld");
}
