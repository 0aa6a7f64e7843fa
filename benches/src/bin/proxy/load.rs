//! The load generator: `wrk`, pinned to its CPU, one thread, a fixed duration, `--latency`; its
//! report parsed. Errors are kept, never dropped: socket errors, non-2xx responses, and fewer
//! bytes read than the completed responses add up to.

use std::process::Command;

/// How long a response may take before wrk counts a timeout: the same for every proxy.
pub const TIMEOUT: &str = "2s";

pub struct Report {
    pub requests: u64,
    /// wrk's own measured duration.
    pub secs: f64,
    /// Bytes read, as wrk prints it (three significant digits or so).
    pub bytes: f64,
    pub p99_ms: f64,
    /// Socket errors and non-2xx responses, as wrk prints them; empty when there were none.
    pub errors: Vec<String>,
}

/// Runs `wrk -t1 -cCONNS -dSECSs --latency --timeout TIMEOUT URL` on `cpu`.
pub fn wrk(url: &str, conns: usize, secs: u32, cpu: Option<usize>) -> Result<Report, String> {
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", &cpu.to_string(), "wrk"]);
            cmd
        }
        None => Command::new("wrk"),
    };
    cmd.args(["-t1", &format!("-c{conns}"), &format!("-d{secs}s")])
        .args(["--latency", "--timeout", TIMEOUT, url]);
    let out = cmd.output().map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "wrk: {}: {}{}",
            out.status,
            text.trim(),
            err.trim()
        ));
    }
    parse(&text).ok_or_else(|| format!("wrk: unexpected output: {text}"))
}

fn parse(text: &str) -> Option<Report> {
    let mut requests = None;
    let mut p99_ms = None;
    let mut errors = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some((n, rest)) = line.split_once(" requests in ") {
            // "12345 requests in 5.00s, 1.23MB read"
            let (secs, bytes) = rest.split_once(", ")?;
            let bytes = bytes.strip_suffix(" read")?;
            requests = Some((n.parse().ok()?, seconds(secs)?, binary_bytes(bytes)?));
        } else if let Some(v) = line.strip_prefix("99%") {
            p99_ms = Some(seconds(v.trim())? * 1e3);
        } else if line.starts_with("Socket errors:") || line.starts_with("Non-2xx") {
            errors.push(line.to_string());
        }
    }
    let (requests, secs, bytes) = requests?;
    Some(Report {
        requests,
        secs,
        bytes,
        p99_ms: p99_ms?,
        errors,
    })
}

/// wrk's durations: "812.00us", "1.23ms", "5.00s", "1.00m".
fn seconds(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let scale = match unit {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Some(n * scale)
}

/// wrk's byte counts, powers of 1024: "812.00B", "1.23KB", "4.56MB", "7.89GB".
fn binary_bytes(s: &str) -> Option<f64> {
    let n = s.strip_suffix('B')?;
    let (n, scale) = match n.chars().last()? {
        'K' => (&n[..n.len() - 1], 1024f64),
        'M' => (&n[..n.len() - 1], 1024f64.powi(2)),
        'G' => (&n[..n.len() - 1], 1024f64.powi(3)),
        'T' => (&n[..n.len() - 1], 1024f64.powi(4)),
        _ => (n, 1.0),
    };
    Some(n.parse::<f64>().ok()? * scale)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_wrk_output() {
        let text = "Running 2s test @ http://127.0.0.1:1/small
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   210.71us   50.00us   1.20ms   90.00%
    Req/Sec    70.00k     2.00k   75.00k    80.00%
  Latency Distribution
     50%  200.00us
     75%  220.00us
     90%  250.00us
     99%    1.10ms
  140000 requests in 2.00s, 52.31MB read
  Socket errors: connect 0, read 3, write 0, timeout 0
Requests/sec:  70000.00
Transfer/sec:     26.15MB
";
        let r = super::parse(text).unwrap();
        assert_eq!(r.requests, 140_000);
        assert!((r.secs - 2.0).abs() < 1e-9);
        assert!((r.bytes - 52.31 * 1024.0 * 1024.0).abs() < 1.0);
        assert!((r.p99_ms - 1.1).abs() < 1e-9);
        assert_eq!(r.errors.len(), 1);
    }
}
