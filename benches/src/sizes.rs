//! The size of a minimal program on each library: `benches/min` holds the same small program
//! (a reactor or poller, one ready fd, one wait, a line on stdout) on barepoll (default
//! features), mio and eventp, and on std alone, built with this crate's profile (fat LTO, one
//! codegen unit) and stripped. What a user who embeds each library pays in a std binary.

use std::path::Path;
use std::process::Command;

/// The programs, as `benches/min` names its binaries, in the order reported.
pub const PROGRAMS: [(&str, &str); 4] = [
    ("std alone", "min-std"),
    ("barepoll", "min-barepoll"),
    ("mio", "min-mio"),
    ("eventp", "min-eventp"),
];

/// Builds `benches/min` and returns each program's stripped size in bytes (in [`PROGRAMS`]'
/// order), or why it could not.
pub fn measure(root: &Path) -> Result<Vec<u64>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = root.join("target/min");
    let built = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(root.join("min/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !built.success() {
        return Err(format!("building benches/min failed: {built}"));
    }
    PROGRAMS
        .iter()
        .map(|(_, bin)| {
            let built = target.join("release").join(bin);
            let stripped = target.join(format!("{bin}.stripped"));
            let status = Command::new("strip")
                .arg("-o")
                .arg(&stripped)
                .arg(&built)
                .status()
                .map_err(|e| format!("strip: {e}"))?;
            if !status.success() {
                return Err(format!("strip {bin}: {status}"));
            }
            let bytes = std::fs::metadata(&stripped).map_err(|e| format!("{bin}: {e}"))?;
            Ok(bytes.len())
        })
        .collect()
}
