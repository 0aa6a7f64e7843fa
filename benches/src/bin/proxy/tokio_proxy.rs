//! The tokio proxy: the program a tokio user writes, as in tokio's own `examples/proxy.rs`: a
//! current-thread runtime (what `#[tokio::main(flavor = "current_thread")]` builds), an accept
//! loop, a task per connection that dials the upstream and runs `copy_bidirectional`. Same
//! command line as barepoll's `examples/proxy` (`LISTEN_PORT UPSTREAM_ADDR`, here after
//! `proxy tokio`), same first line on stdout. Both sockets get `TCP_NODELAY`, as HAProxy and
//! nginx set by default.

use std::io;
use std::net::SocketAddr;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};

pub fn main(port: u16, upstream: SocketAddr) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (mut inbound, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            tokio::spawn(async move {
                let mut outbound = match TcpStream::connect(upstream).await {
                    Ok(outbound) => outbound,
                    Err(e) => return eprintln!("connect {upstream}: {e}"),
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                if let Err(e) = copy_bidirectional(&mut inbound, &mut outbound).await {
                    eprintln!("copy: {e}");
                }
            });
        }
    })
}
