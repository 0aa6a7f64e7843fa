//! The exact check run through every proxy before it is measured: a keep-alive HTTP/1.1 GET of
//! each file, status 200 and every byte of the body compared; twice on one connection, so that
//! the proxy must keep a connection going in both directions. Returns the size of one whole
//! response (headers and body), which the load generator's byte count is checked against.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// GETs `path` twice on one connection; `Ok(response bytes)` if both bodies equal `expected`.
pub fn fetch(addr: SocketAddr, path: &str, expected: &[u8]) -> Result<usize, String> {
    let mut conn = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut size = 0;
    for _ in 0..2 {
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        conn.write_all(request.as_bytes())
            .map_err(|e| format!("GET {path}: write: {e}"))?;
        size = read_response(&mut conn, path, expected)?;
    }
    Ok(size)
}

fn read_response(conn: &mut TcpStream, path: &str, expected: &[u8]) -> Result<usize, String> {
    let mut got = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = read(conn, &mut buf, path)?;
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    if !head.starts_with("HTTP/1.1 200 ") {
        let status = head.lines().next().unwrap_or("");
        return Err(format!("GET {path}: status line {status:?}"));
    }
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .ok_or_else(|| format!("GET {path}: no Content-Length"))?;
    while got.len() < head_end + length {
        let n = read(conn, &mut buf, path)?;
        got.extend_from_slice(&buf[..n]);
    }
    if got.len() > head_end + length {
        return Err(format!("GET {path}: bytes after the body"));
    }
    let body = &got[head_end..];
    if body != expected {
        let at = body.iter().zip(expected).position(|(a, b)| a != b);
        return Err(format!(
            "GET {path}: body of {} bytes differs from the file's {} (first difference at {at:?})",
            body.len(),
            expected.len()
        ));
    }
    Ok(got.len())
}

fn read(conn: &mut TcpStream, buf: &mut [u8], path: &str) -> Result<usize, String> {
    match conn.read(buf) {
        Ok(0) => Err(format!("GET {path}: connection closed mid-response")),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("GET {path}: read: {e}")),
    }
}
