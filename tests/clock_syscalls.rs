//! Reading the monotonic clock makes no syscall where the kernel maps a vDSO (x86_64): a
//! thousand readings under `strace` show no `clock_gettime`, while a thousand `getpid` calls
//! in the same run show that strace sees the process's calls at all.

use std::process::Command;

const CHILD: &str = "BAREPOLL_CLOCK_LOOP";

/// The auxiliary vector has `AT_SYSINFO_EHDR` (33) with a non-zero value.
fn kernel_maps_a_vdso() -> bool {
    let Ok(auxv) = std::fs::read("/proc/self/auxv") else {
        return false;
    };
    auxv.chunks_exact(16).any(|pair| {
        let word = |i: usize| u64::from_ne_bytes(pair[i..i + 8].try_into().unwrap());
        word(0) == 33 && word(8) != 0
    })
}

#[test]
#[cfg_attr(miri, ignore = "Miri runs no processes")]
fn a_thousand_clock_readings_make_no_syscall() {
    if std::env::var_os(CHILD).is_some() {
        // Traced: one reading (the lookup), then the thousand counted ones.
        let first = barepoll::sys::monotonic().unwrap();
        let mut last = first;
        for _ in 0..1000 {
            let now = barepoll::sys::monotonic().unwrap();
            assert!(now >= last);
            last = now;
        }
        for _ in 0..1000 {
            barepoll::sys::getpid().unwrap();
        }
        return;
    }
    if !cfg!(feature = "vdso") {
        println!("skipped: built without the `vdso` feature, every reading is a syscall");
        return;
    }
    if !cfg!(target_arch = "x86_64") {
        println!("skipped: strace runs on x86_64 only here (aarch64 runs under qemu-user)");
        return;
    }
    if !kernel_maps_a_vdso() {
        println!("skipped: this process has no vDSO (AT_SYSINFO_EHDR)");
        return;
    }
    let out = std::env::temp_dir().join(format!("barepoll-clock-{}.strace", std::process::id()));
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=clock_gettime,getpid", "-o"])
        .arg(&out)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_thousand_clock_readings_make_no_syscall",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        // LeakSanitizer cannot run under ptrace (the AddressSanitizer build of this test).
        .env("ASAN_OPTIONS", "detect_leaks=0")
        .status();
    let status = match status {
        Err(e) => {
            println!("skipped: strace cannot run ({e}); `apt-get install strace`");
            return;
        }
        Ok(s) => s,
    };
    let trace = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    if trace.contains("PTRACE_TRACEME") || trace.contains("ptrace(") {
        println!("skipped: strace may not trace here: {trace}");
        return;
    }
    assert!(status.success(), "the traced run failed: {trace}");
    // The readings' thread is the one that made the getpid calls; what the test harness or a
    // sanitizer's runtime reads on other threads is not ours.
    let mut calls: Vec<(&str, usize)> = Vec::new();
    for tid in trace
        .lines()
        .filter(|l| l.contains("getpid("))
        .filter_map(|l| l.split_whitespace().next())
    {
        match calls.iter_mut().find(|(t, _)| *t == tid) {
            Some((_, n)) => *n += 1,
            None => calls.push((tid, 1)),
        }
    }
    let reader = calls
        .iter()
        .max_by_key(|(_, n)| *n)
        .map_or("", |(t, _)| *t)
        .to_owned();
    let count = |name: &str| {
        trace
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(reader.as_str()) && l.contains(name))
            .count()
    };
    assert!(
        count("getpid(") >= 1000,
        "strace saw {} getpid calls: {trace}",
        count("getpid(")
    );
    assert_eq!(count("clock_gettime("), 0, "{trace}");
}
