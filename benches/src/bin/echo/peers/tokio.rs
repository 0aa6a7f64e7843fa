//! tokio 1 on its current-thread runtime, as tokio's echo example: `TcpListener::accept` and a
//! spawned task per connection that loops `read` / `write_all`. Each task owns its 64 KiB
//! buffer (allocated once per connection), since a task holds it across its awaits.

use super::{report, BUF};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub fn serve(listener: std::net::TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
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
                    let n = match socket.read(&mut buf).await {
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
