//! The scratch directory and what lives in it: the backend's two files (a small response and
//! 1 MiB of pseudo-random bytes, so that a proxy that corrupts data is caught), the nginx and
//! HAProxy configurations, and the stderr of every process. Removed when dropped. It does not
//! start anything.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// Bytes of the small response's body.
pub const SMALL_LEN: usize = 128;
/// Bytes of the file.
pub const FILE_LEN: usize = 1 << 20;

pub const SMALL_PATH: &str = "/small";
pub const FILE_PATH: &str = "/1m";

/// Where nginx packages put the stream module (`libnginx-mod-stream`).
const STREAM_MODULES: [&str; 2] = [
    "/usr/lib/nginx/modules/ngx_stream_module.so",
    "/usr/share/nginx/modules/ngx_stream_module.so",
];

pub struct Scratch {
    pub dir: PathBuf,
    pub small: Vec<u8>,
    pub file: Vec<u8>,
}

impl Scratch {
    pub fn create() -> Scratch {
        let dir = std::env::temp_dir().join(format!("barepoll-proxy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["www", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create the scratch directory");
        }
        let mut small = b"barepoll proxy benchmark: the small response\n".repeat(3);
        small.truncate(SMALL_LEN - 1);
        small.push(b'\n');
        // xorshift64: deterministic, incompressible enough that a shifted byte shows.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let file: Vec<u8> = (0..FILE_LEN)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        std::fs::write(dir.join("www").join(&SMALL_PATH[1..]), &small).expect("write");
        std::fs::write(dir.join("www").join(&FILE_PATH[1..]), &file).expect("write");
        Scratch { dir, small, file }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `name` with `text`, returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// The last lines of a process's stderr file, for an error message.
    pub fn tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.path(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// The backend: nginx serving `www/` from one worker, keep-alive connections kept for the
    /// whole run (no reconnects that would depend on how a proxy handles them).
    pub fn backend_conf(&self, port: u16) -> String {
        let d = self.dir.display();
        let mut conf = String::new();
        let _ = write!(
            conf,
            "worker_processes 1;
error_log {d}/backend.log warn;
pid {d}/backend.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    default_type application/octet-stream;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {d}/www;
    }}
}}
"
        );
        conf
    }

    /// nginx's `stream` proxy: one worker, the module loaded as a packaged nginx loads it.
    pub fn nginx_stream_conf(&self, module: &Path, port: u16, backend: u16) -> String {
        let d = self.dir.display();
        format!(
            "load_module {module};
worker_processes 1;
error_log {d}/nginx-stream.log warn;
pid {d}/nginx-stream.pid;
events {{ worker_connections 4096; }}
stream {{
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        proxy_pass 127.0.0.1:{backend};
        proxy_timeout {IDLE_TIMEOUT_S}s;
    }}
}}
",
            module = module.display()
        )
    }

    /// HAProxy in TCP mode on one thread.
    pub fn haproxy_conf(&self, port: u16, backend: u16, splice: bool) -> String {
        let splice = if splice {
            "    option splice-auto\n"
        } else {
            ""
        };
        format!(
            "global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
{splice}    timeout connect 5s
    timeout client {IDLE_TIMEOUT_S}s
    timeout server {IDLE_TIMEOUT_S}s
listen proxy
    bind 127.0.0.1:{port}
    server backend 127.0.0.1:{backend}
"
        )
    }
}

/// The idle timeout of the proxies that have one (HAProxy, nginx): far above a round, so it
/// never fires; the Rust proxies have none.
pub const IDLE_TIMEOUT_S: u32 = 60;

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The stream module's path, if `libnginx-mod-stream` is installed.
pub fn stream_module() -> Option<PathBuf> {
    STREAM_MODULES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A port nothing listens on now (bound and released: the servers that cannot print their
/// address need it in their configuration).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}
