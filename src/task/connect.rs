//! Connecting a stream socket as a task: a non-blocking `connect` whose end is awaited on the
//! socket's writability, then read from `SO_ERROR` (the kernel's answer) and the peer's
//! address (a socket writable with no error yet and no peer is still connecting).

use super::{Async, Spawner};
use crate::error::{Error, Result};
use crate::sys::{self, AsFd, Errno, OwnedFd, SocketAddr, SocketType};

impl<F: AsFd + From<OwnedFd> + 'static> Async<F> {
    /// A new non-blocking stream socket of `addr`'s family, connected to `addr`, as an `F`
    /// (an [`OwnedFd`], or with `std` a `TcpStream` or `UnixStream`): the connect is started
    /// at once and awaited with no thread blocked (TCP on IPv4 or IPv6, a Unix socket path,
    /// vsock).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an address with no family; the kernel's answer as
    /// [`Error::Os`] (`ECONNREFUSED`, `ENETUNREACH`, `ETIMEDOUT`, … from `socket`, `connect`
    /// or the socket's `SO_ERROR`); the registration's error, or [`Error::Closed`] once the
    /// reactor is gone. The socket is closed on error.
    ///
    /// ```
    /// use barepoll::sys::{self, AsFd, Domain, Errno, SocketAddr, SocketType};
    /// use barepoll::{task::Async, Error, Reactor};
    ///
    /// let mut reactor = Reactor::new()?;
    /// let spawner = reactor.spawner()?;
    /// let listener = sys::socket(Domain::V4, SocketType::Stream, 0)?;
    /// sys::bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
    /// sys::listen(listener.as_fd(), 16)?;
    /// let addr = sys::local_addr(listener.as_fd())?;
    /// let s = spawner.clone();
    /// let client = reactor.spawn(async move {
    ///     let stream: Async<sys::OwnedFd> = Async::connect(&s, &addr).await?;
    ///     stream.write(b"hi").await
    /// })?;
    /// assert_eq!(reactor.block_on(client)?, Ok(Ok(2)));
    /// drop(listener); // nothing listens there now
    /// let refused = reactor.spawn(async move {
    ///     Async::<std::net::TcpStream>::connect(&spawner, &addr).await.map(drop)
    /// })?;
    /// assert_eq!(reactor.block_on(refused)?, Ok(Err(Error::Os(Errno::ECONNREFUSED))));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub async fn connect(spawner: &Spawner, addr: &SocketAddr) -> Result<Async<F>> {
        let domain = addr
            .domain()
            .ok_or(Error::Invalid("an address with no family"))?;
        let socket = sys::socket(domain, SocketType::Stream, sys::SOCK_NONBLOCK)?;
        match sys::connect(socket.as_fd(), addr) {
            Ok(()) | Err(Errno::EINPROGRESS) => {}
            Err(e) => return Err(Error::Os(e)),
        }
        let socket = Async::new(spawner, F::from(socket))?;
        socket
            .write_with(|s| match sys::take_error(s.as_fd())? {
                Some(refused) => Err(refused),
                // Writable with no error and no peer yet: still connecting (an early edge).
                None => match sys::peer_addr(s.as_fd()) {
                    Err(Errno::ENOTCONN) => Err(Errno::EAGAIN),
                    done => done.map(drop),
                },
            })
            .await?;
        Ok(socket)
    }
}
