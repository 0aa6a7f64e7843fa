//! tokio 1 on its current-thread runtime, as tokio's echo example: `TcpListener::accept` and a
//! spawned task per connection that loops `read` / `write_all`. Each task owns its 64 KiB
//! buffer (allocated once per connection), since a task holds it across its awaits.
//!
//! `serve_idle` is the same server with barepoll's examples' idle timeout (30 s per
//! connection), as tokio's docs write one: `tokio::time::timeout` around each read.

use super::{report, BUF};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub fn serve(listener: std::net::TcpListener) -> io::Result<()> {
    run(listener, None)
}

pub fn serve_idle(listener: std::net::TcpListener) -> io::Result<()> {
    run(listener, Some(IDLE))
}

/// What barepoll's echo examples close an idle connection after.
const IDLE: Duration = Duration::from_secs(30);

fn run(listener: std::net::TcpListener, idle: Option<Duration>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        loop {
            let (mut socket, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; BUF];
                loop {
                    let read = match idle {
                        None => socket.read(&mut buf).await,
                        Some(idle) => match tokio::time::timeout(idle, socket.read(&mut buf)).await
                        {
                            Ok(read) => read,
                            Err(_) => return, // idle
                        },
                    };
                    let n = match read {
                        Ok(0) => return,
                        Ok(n) => n,
                        Err(e) => return report(&e),
                    };
                    if let Err(e) = socket.write_all(&buf[..n]).await {
                        return report(&e);
                    }
                }
            });
        }
    })
}
