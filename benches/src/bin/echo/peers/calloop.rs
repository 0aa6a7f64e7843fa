//! calloop 0.14: `Generic` sources, level-triggered for the listener and edge-triggered for each
//! connection (readable and writable, so no re-registration when a write waits). The server's
//! one buffer is the loop's shared data, which every callback receives.

use super::conn::{Echo, Status};
use super::{report, BUF};
use calloop::generic::Generic;
use calloop::{EventLoop, Interest, LoopHandle, Mode, PostAction};
use std::io::{self, ErrorKind};
use std::net::{TcpListener, TcpStream};

struct Shared {
    buf: Vec<u8>,
}

pub fn serve(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut event_loop: EventLoop<Shared> = EventLoop::try_new()?;
    let handle = event_loop.handle();
    let on_accept = handle.clone();
    handle
        .insert_source(
            Generic::new(listener, Interest::READ, Mode::Level),
            move |_, listener, _| {
                accept(listener, &on_accept);
                Ok(PostAction::Continue)
            },
        )
        .map_err(|e| e.error)?;
    let mut shared = Shared {
        buf: vec![0u8; BUF],
    };
    event_loop.run(None, &mut shared, |_| {})?;
    Ok(())
}

fn accept(listener: &TcpListener, handle: &LoopHandle<'_, Shared>) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = stream.set_nonblocking(true) {
                    eprintln!("set_nonblocking: {e}");
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let mut echo = Echo::default();
                let source = Generic::new(stream, Interest::BOTH, Mode::Edge);
                let inserted = handle.insert_source(source, move |_, stream, shared| {
                    let mut stream: &TcpStream = stream;
                    match echo.ready(&mut stream, &mut shared.buf, true) {
                        Ok(Status::Open) => Ok(PostAction::Continue),
                        Ok(Status::Closed) => Ok(PostAction::Remove),
                        Err(e) => {
                            report(&e);
                            Ok(PostAction::Remove)
                        }
                    }
                });
                if let Err(e) = inserted {
                    eprintln!("insert_source: {}", e.error);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("accept: {e}");
                break;
            }
        }
    }
}
