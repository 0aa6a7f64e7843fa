//! Sockets without libc, of any family [`SocketAddr`] names: the calls a network program
//! needs (`socket`, `socketpair`, `bind`, `listen`, `accept4`, `connect`, `setsockopt`,
//! `SO_ERROR`, `getsockname`, `getpeername`, `shutdown`, `send` without `SIGPIPE`, and
//! `sendto`/`recvfrom` for datagrams). Every socket is close-on-exec. An accepted connection
//! is always handed to the caller, whatever its family.

use super::addr::{RawAddr, STORAGE};
use super::fd::AsRawFd;
use super::{arch, k, nr, owned, BorrowedFd, Domain, Errno, OwnedFd, SocketAddr};
use linux_raw_sys::net as n;

/// `socket` and `accept` flag: the socket never blocks (calls fail with [`Errno::EAGAIN`]).
pub const SOCK_NONBLOCK: u32 = k::O_NONBLOCK;

/// A socket type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SocketType {
    /// `SOCK_STREAM`: TCP.
    Stream = n::SOCK_STREAM as isize,
    /// `SOCK_DGRAM`: UDP.
    Datagram = n::SOCK_DGRAM as isize,
    /// `SOCK_SEQPACKET`: datagrams over a connection (Unix domain, vsock).
    SeqPacket = n::SOCK_SEQPACKET as isize,
}

/// A boolean socket option.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SockOpt {
    /// `SO_REUSEADDR`: bind a port whose old connections linger in `TIME_WAIT`.
    ReuseAddr,
    /// `SO_REUSEPORT`: several sockets (one per reactor, say) bind the same port, and the
    /// kernel spreads connections over them.
    ReusePort,
    /// `TCP_NODELAY`: send small writes at once (no Nagle delay).
    NoDelay,
}

/// Which half (or both) [`shutdown`] closes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shutdown {
    /// No more reads.
    Read = n::SHUT_RD as isize,
    /// No more writes: the peer reads end of file.
    Write = n::SHUT_WR as isize,
    /// Both.
    Both = n::SHUT_RDWR as isize,
}

/// Creates a socket; `flags` may hold [`SOCK_NONBLOCK`]. Always close-on-exec.
///
/// # Errors
/// The kernel's error (`EMFILE`, `ENFILE`, `EAFNOSUPPORT`, `ENOMEM`).
///
/// ```
/// use barepoll::sys::{self, Domain, SocketType};
/// let udp = sys::socket(Domain::V4, SocketType::Datagram, sys::SOCK_NONBLOCK)?;
/// # drop(udp);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn socket(domain: Domain, kind: SocketType, flags: u32) -> Result<OwnedFd, Errno> {
    let kind = kind as usize | (flags | k::O_CLOEXEC) as usize;
    // SAFETY: socket takes no pointers.
    let raw = unsafe { arch::syscall3(nr(k::__NR_socket), domain as usize, kind, 0) };
    Errno::result(raw).and_then(owned)
}

/// Creates a pair of connected sockets (`socketpair`; Unix domain, the only family that has
/// it); `flags` may hold [`SOCK_NONBLOCK`]. Both are close-on-exec.
///
/// # Errors
/// The kernel's error (`EMFILE`, `ENFILE`, `EOPNOTSUPP` for a type the family lacks).
///
/// ```
/// use barepoll::sys::{self, AsFd, SocketType};
/// let (a, b) = sys::socketpair(SocketType::Stream, 0)?;
/// sys::send(a.as_fd(), b"hi")?;
/// let mut buf = [0u8; 2];
/// assert_eq!(sys::read(b.as_fd(), &mut buf)?, 2);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn socketpair(kind: SocketType, flags: u32) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0i32; 2];
    let kind = kind as usize | (flags | k::O_CLOEXEC) as usize;
    let (domain, ptr) = (Domain::Unix as usize, fds.as_mut_ptr() as usize);
    // SAFETY: `fds` is a writable array of two ints, as socketpair requires.
    let r = unsafe { arch::syscall4(nr(k::__NR_socketpair), domain, kind, 0, ptr) };
    Errno::result(r)?;
    // Both owned before either error is returned, so neither end leaks.
    let (a, b) = (owned(fds[0] as usize), owned(fds[1] as usize));
    Ok((a?, b?))
}

/// Binds `fd` to `addr` (port 0 picks a free one; see [`local_addr`]).
///
/// # Errors
/// The kernel's error (`EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES` for a privileged port, `EINVAL`
/// if bound already, `EADDRINUSE` for a Unix path that exists); `EAFNOSUPPORT` for
/// [`SocketAddr::Other`].
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, SocketAddr, SocketType};
/// let listener = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// sys::bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
/// sys::listen(listener.as_fd(), 16)?;
/// let addr = sys::local_addr(listener.as_fd())?;
/// assert_ne!(addr.port(), Some(0));
/// # Ok::<(), sys::Errno>(())
/// ```
#[inline]
pub fn bind(fd: BorrowedFd<'_>, addr: &SocketAddr) -> Result<(), Errno> {
    let mut raw = RawAddr::zeroed();
    let len = addr.encode(&mut raw)?;
    let ptr = raw.bytes.as_ptr() as usize;
    // SAFETY: the kernel reads `len` (at most 128) bytes of a live socket address from `ptr`.
    let r = unsafe { arch::syscall3_readonly(nr(k::__NR_bind), fd.as_raw_fd() as usize, ptr, len) };
    Errno::result(r).map(drop)
}

/// Marks a bound stream socket as accepting connections, with room for `backlog` pending.
///
/// # Errors
/// The kernel's error (`EADDRINUSE`, `ENOTSOCK`, `EOPNOTSUPP` for a datagram socket).
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, SocketAddr, SocketType};
/// let listener = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// sys::bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
/// sys::listen(listener.as_fd(), 16)?;
/// let addr = sys::local_addr(listener.as_fd())?;
/// # let _ = addr;
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn listen(fd: BorrowedFd<'_>, backlog: u32) -> Result<(), Errno> {
    let backlog = backlog.min(i32::MAX as u32) as usize;
    // SAFETY: listen takes no pointers.
    let r = unsafe { arch::syscall2(nr(k::__NR_listen), fd.as_raw_fd() as usize, backlog) };
    Errno::result(r).map(drop)
}

/// Accepts a connection (`accept4`, close-on-exec) on a listener of any family; `flags` may
/// hold [`SOCK_NONBLOCK`]. Returns the new socket and the peer's address (for a Unix-domain
/// peer usually [`UnixAddr::unnamed`](super::UnixAddr::unnamed); an unknown family is
/// [`SocketAddr::Other`]). Once the kernel has handed over a connection it is always
/// returned: nothing after `accept4` can fail.
///
/// # Errors
/// The kernel's error: `EAGAIN` on a non-blocking listener with nothing pending, `EMFILE`,
/// `ECONNABORTED`, `EINTR`, `EINVAL` for a socket that is not listening, ...
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, SocketAddr, SocketType};
/// let listener = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// sys::bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
/// sys::listen(listener.as_fd(), 16)?;
/// let addr = sys::local_addr(listener.as_fd())?;
/// let client = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// sys::connect(client.as_fd(), &addr)?;
/// let (conn, peer) = sys::accept(listener.as_fd(), sys::SOCK_NONBLOCK)?;
/// assert_eq!(peer, sys::local_addr(client.as_fd())?);
/// # drop(conn);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn accept(fd: BorrowedFd<'_>, flags: u32) -> Result<(OwnedFd, SocketAddr), Errno> {
    let mut raw = RawAddr::zeroed();
    let mut len = STORAGE as u32;
    let (ptr, len_ptr) = (
        raw.bytes.as_mut_ptr() as usize,
        core::ptr::addr_of_mut!(len) as usize,
    );
    let flags = (flags | k::O_CLOEXEC) as usize;
    // SAFETY: the kernel writes at most `len` bytes of address into `raw` and the length into
    // `len`, both ours to write.
    let r = unsafe {
        arch::syscall4(
            nr(k::__NR_accept4),
            fd.as_raw_fd() as usize,
            ptr,
            len_ptr,
            flags,
        )
    };
    let conn = Errno::result(r).and_then(owned)?;
    Ok((conn, SocketAddr::decode(&raw, len as usize)))
}

/// Accepts a connection like [`accept`], and returns only the socket: the kernel copies
/// no address, and no address code is linked (for a program that has no use for the peer).
///
/// # Errors
/// As for [`accept`].
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, Errno, SocketType};
/// let listener = sys::socket(Domain::Unix, SocketType::Stream, sys::SOCK_NONBLOCK)?;
/// sys::bind(listener.as_fd(), &sys::SocketAddr::Unix(sys::UnixAddr::abstract_name(b"doc-accept")?))?;
/// sys::listen(listener.as_fd(), 1)?;
/// assert_eq!(sys::accept_socket(listener.as_fd(), 0).map(drop), Err(Errno::EAGAIN));
/// # Ok::<(), Errno>(())
/// ```
pub fn accept_socket(fd: BorrowedFd<'_>, flags: u32) -> Result<OwnedFd, Errno> {
    let flags = (flags | k::O_CLOEXEC) as usize;
    // SAFETY: null address and length pointers: the kernel writes no address.
    let r = unsafe { arch::syscall4(nr(k::__NR_accept4), fd.as_raw_fd() as usize, 0, 0, flags) };
    Errno::result(r).and_then(owned)
}

/// Connects `fd` to `addr`. A non-blocking socket gives `EINPROGRESS`: it is writable once
/// the connection is made (or failed).
///
/// # Errors
/// The kernel's error: `ECONNREFUSED`, `EINPROGRESS` (non-blocking), `ENETUNREACH`,
/// `ETIMEDOUT`, `ENOENT` for a Unix path with no socket, ...; `EAFNOSUPPORT` for
/// [`SocketAddr::Other`].
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, Errno, SocketAddr, SocketType};
/// let s = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// // Nothing listens on port 1 of loopback.
/// assert_eq!(sys::connect(s.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 1)), Err(Errno::ECONNREFUSED));
/// # Ok::<(), Errno>(())
/// ```
pub fn connect(fd: BorrowedFd<'_>, addr: &SocketAddr) -> Result<(), Errno> {
    let mut raw = RawAddr::zeroed();
    let len = addr.encode(&mut raw)?;
    let (fd, ptr) = (fd.as_raw_fd() as usize, raw.bytes.as_ptr() as usize);
    // SAFETY: the kernel reads `len` (at most 128) bytes of a live socket address from `ptr`.
    let r = unsafe { arch::syscall3_readonly(nr(k::__NR_connect), fd, ptr, len) };
    Errno::result(r).map(drop)
}

/// Turns a boolean socket option on or off.
///
/// # Errors
/// The kernel's error (`ENOTSOCK`, `ENOPROTOOPT` for `NoDelay` on a non-TCP socket).
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, SockOpt, SocketType};
/// let s = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// sys::setsockopt(s.as_fd(), SockOpt::ReusePort, true)?;
/// sys::setsockopt(s.as_fd(), SockOpt::NoDelay, true)?;
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn setsockopt(fd: BorrowedFd<'_>, opt: SockOpt, on: bool) -> Result<(), Errno> {
    let (level, name) = match opt {
        SockOpt::ReuseAddr => (n::SOL_SOCKET, n::SO_REUSEADDR),
        SockOpt::ReusePort => (n::SOL_SOCKET, n::SO_REUSEPORT),
        SockOpt::NoDelay => (n::SOL_TCP, n::TCP_NODELAY),
    };
    let value = on as i32;
    let ptr = core::ptr::addr_of!(value) as usize;
    let len = core::mem::size_of::<i32>();
    let fd = fd.as_raw_fd() as usize;
    // SAFETY: the kernel reads one `int` from `ptr`.
    let r = unsafe {
        arch::syscall5(
            nr(k::__NR_setsockopt),
            fd,
            level as usize,
            name as usize,
            ptr,
            len,
        )
    };
    Errno::result(r).map(drop)
}

/// Takes the socket's pending error (`SO_ERROR`) and clears it: how a non-blocking
/// [`connect`] that gave `EINPROGRESS` tells, once the socket is writable, whether it
/// succeeded (`Ok(None)`) or why it failed (`Ok(Some(errno))`).
///
/// # Errors
/// The kernel's error for the query itself (`ENOTSOCK`, `EBADF`).
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, Errno, SocketAddr, SocketType};
/// let s = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// assert_eq!(sys::connect(s.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 1)), Err(Errno::ECONNREFUSED));
/// assert_eq!(sys::take_error(s.as_fd())?, None); // the blocking connect reported it already
/// # Ok::<(), Errno>(())
/// ```
pub fn take_error(fd: BorrowedFd<'_>) -> Result<Option<Errno>, Errno> {
    let value = getsockopt_int(fd, n::SO_ERROR)?;
    // 0 is no error; anything else that is not an error number is not one we can report.
    match value {
        0 => Ok(None),
        v => Errno::from_raw(v).map(Some).ok_or(Errno::EINVAL),
    }
}

/// The socket's type (`SO_TYPE`); `None` for a type this module does not name (`SOCK_RAW`,
/// say).
///
/// # Errors
/// The kernel's error (`ENOTSOCK` for a descriptor that is no socket, `EBADF`).
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, Errno, SocketType};
/// let s = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// assert_eq!(sys::socket_type(s.as_fd())?, Some(SocketType::Stream));
/// let efd = sys::eventfd(0, 0)?;
/// assert_eq!(sys::socket_type(efd.as_fd()), Err(Errno::ENOTSOCK));
/// # Ok::<(), Errno>(())
/// ```
pub fn socket_type(fd: BorrowedFd<'_>) -> Result<Option<SocketType>, Errno> {
    let value = getsockopt_int(fd, n::SO_TYPE)? as u32;
    Ok([
        SocketType::Stream,
        SocketType::Datagram,
        SocketType::SeqPacket,
    ]
    .into_iter()
    .find(|t| *t as u32 == value))
}

/// An `int` socket option of level `SOL_SOCKET`.
fn getsockopt_int(fd: BorrowedFd<'_>, name: u32) -> Result<i32, Errno> {
    let mut value = 0i32;
    let mut len = core::mem::size_of::<i32>() as u32;
    let (ptr, len_ptr) = (
        core::ptr::addr_of_mut!(value) as usize,
        core::ptr::addr_of_mut!(len) as usize,
    );
    let (fd, level, name) = (
        fd.as_raw_fd() as usize,
        n::SOL_SOCKET as usize,
        name as usize,
    );
    // SAFETY: the kernel writes at most `len` (4) bytes into `value` and the length into
    // `len`, both ours to write.
    let r = unsafe { arch::syscall5(nr(k::__NR_getsockopt), fd, level, name, ptr, len_ptr) };
    Errno::result(r)?;
    if len as usize != core::mem::size_of::<i32>() {
        return Err(Errno::EINVAL);
    }
    Ok(value)
}

/// The address `fd` is bound to (`getsockname`): the port the kernel picked for port 0.
///
/// # Errors
/// The kernel's error (`ENOTSOCK`, `EBADF`).
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, SocketAddr, SocketType};
/// let listener = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// sys::bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
/// sys::listen(listener.as_fd(), 16)?;
/// let addr = sys::local_addr(listener.as_fd())?;
/// assert_eq!(addr.domain(), Some(Domain::V4));
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn local_addr(fd: BorrowedFd<'_>) -> Result<SocketAddr, Errno> {
    name_of(fd, k::__NR_getsockname)
}

/// The port an IPv4 or IPv6 socket is bound to (`getsockname`): what [`local_addr`] gives
/// with [`SocketAddr::port`], reading only the 28 bytes those families need.
///
/// # Errors
/// The kernel's error (`ENOTSOCK`, `EBADF`); `EAFNOSUPPORT` for a socket of another family.
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, SocketAddr, SocketType};
/// let s = sys::socket(Domain::V4, SocketType::Datagram, 0)?;
/// sys::bind(s.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
/// assert_eq!(Some(sys::local_port(s.as_fd())?), sys::local_addr(s.as_fd())?.port());
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn local_port(fd: BorrowedFd<'_>) -> Result<u16, Errno> {
    let mut raw = [0u8; 28];
    let mut len = raw.len() as u32;
    let (ptr, len_ptr) = (
        raw.as_mut_ptr() as usize,
        core::ptr::addr_of_mut!(len) as usize,
    );
    let fd = fd.as_raw_fd() as usize;
    // SAFETY: the kernel writes at most `len` (28) bytes of address into `raw` and the
    // length into `len`, both ours to write.
    let r = unsafe { arch::syscall3(nr(k::__NR_getsockname), fd, ptr, len_ptr) };
    Errno::result(r)?;
    match u32::from(u16::from_ne_bytes([raw[0], raw[1]])) {
        n::AF_INET | n::AF_INET6 => Ok(u16::from_be_bytes([raw[2], raw[3]])),
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

/// The address of the peer `fd` is connected to (`getpeername`).
///
/// # Errors
/// The kernel's error (`ENOTCONN`, `ENOTSOCK`, `EBADF`).
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, Errno, SocketType};
/// let s = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// assert_eq!(sys::peer_addr(s.as_fd()), Err(Errno::ENOTCONN));
/// # Ok::<(), Errno>(())
/// ```
pub fn peer_addr(fd: BorrowedFd<'_>) -> Result<SocketAddr, Errno> {
    name_of(fd, k::__NR_getpeername)
}

/// `getsockname` or `getpeername`.
fn name_of(fd: BorrowedFd<'_>, call: u32) -> Result<SocketAddr, Errno> {
    let mut raw = RawAddr::zeroed();
    let mut len = STORAGE as u32;
    let (ptr, len_ptr) = (
        raw.bytes.as_mut_ptr() as usize,
        core::ptr::addr_of_mut!(len) as usize,
    );
    let fd = fd.as_raw_fd() as usize;
    // SAFETY: the kernel writes at most `len` bytes of address into `raw` and the length into
    // `len`, both ours to write.
    let r = unsafe { arch::syscall3(nr(call), fd, ptr, len_ptr) };
    Errno::result(r)?;
    Ok(SocketAddr::decode(&raw, len as usize))
}

/// Shuts down one half (or both) of a connection.
///
/// # Errors
/// The kernel's error (`ENOTCONN` for a socket that is not connected, `ENOTSOCK`).
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, Errno, Shutdown, SocketType};
/// let s = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// assert_eq!(sys::shutdown(s.as_fd(), Shutdown::Write), Err(Errno::ENOTCONN));
/// # Ok::<(), Errno>(())
/// ```
pub fn shutdown(fd: BorrowedFd<'_>, how: Shutdown) -> Result<(), Errno> {
    // SAFETY: shutdown takes no pointers.
    let r = unsafe { arch::syscall2(nr(k::__NR_shutdown), fd.as_raw_fd() as usize, how as usize) };
    Errno::result(r).map(drop)
}

/// Sends from `buf` on a connected socket; returns the number of bytes sent. Unlike
/// [`write`](super::write), a peer that has gone away gives [`Errno::EPIPE`] and never
/// raises `SIGPIPE` (whose default action ends the process): `MSG_NOSIGNAL`.
///
/// # Errors
/// The kernel's error: `EAGAIN` when a non-blocking socket's buffer is full, `EPIPE` or
/// `ECONNRESET` once the peer is gone, `ENOTCONN`, `ENOTSOCK`, `EINTR`, ...
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, Errno, Shutdown, SocketAddr, SocketType};
///
/// let listener = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// sys::bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
/// sys::listen(listener.as_fd(), 1)?;
/// let client = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// sys::connect(client.as_fd(), &sys::local_addr(listener.as_fd())?)?;
/// assert_eq!(sys::send(client.as_fd(), b"hi")?, 2);
/// sys::shutdown(client.as_fd(), Shutdown::Write)?;
/// // Writing after a shutdown would raise SIGPIPE; `send` only reports it.
/// assert_eq!(sys::send(client.as_fd(), b"more"), Err(Errno::EPIPE));
/// # Ok::<(), Errno>(())
/// ```
pub fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize, Errno> {
    let (ptr, len) = (buf.as_ptr() as usize, buf.len());
    let flags = n::MSG_NOSIGNAL as usize;
    // SAFETY: the kernel reads at most `len` bytes from `buf`, which stays borrowed meanwhile;
    // a null destination address with length 0 is `send` on a connected socket.
    let r = unsafe {
        arch::syscall6(
            nr(k::__NR_sendto),
            fd.as_raw_fd() as usize,
            ptr,
            len,
            flags,
            0,
            0,
        )
    };
    Errno::result(r)
}

/// Receives into `buf` from a connected socket; returns the number of bytes received, 0 at
/// the end of a stream. The same as [`read`](super::read) on a socket, by the socket call
/// (`recvfrom` with no address), which skips the file layer's work that `read` does; but for
/// an empty `buf`, which `read` answers with 0 at once: `recv` gives `EAGAIN` while nothing is
/// queued, and takes (drops) a whole datagram once one is.
///
/// # Errors
/// The kernel's error: `EAGAIN` when a non-blocking socket has nothing, `ECONNRESET`,
/// `ENOTCONN`, `ENOTSOCK`, `EINTR`, ...
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, Errno, SocketAddr, SocketType};
///
/// let listener = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// sys::bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
/// sys::listen(listener.as_fd(), 1)?;
/// let client = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// sys::connect(client.as_fd(), &sys::local_addr(listener.as_fd())?)?;
/// let (server, _) = sys::accept(listener.as_fd(), 0)?;
/// sys::send(client.as_fd(), b"hi")?;
/// let mut buf = [0u8; 8];
/// assert_eq!(sys::recv(server.as_fd(), &mut buf)?, 2);
/// assert_eq!(&buf[..2], b"hi");
/// drop(client);
/// assert_eq!(sys::recv(server.as_fd(), &mut buf)?, 0); // the end of the stream
/// let pipe = sys::pipe(0)?;
/// assert_eq!(sys::recv(pipe.0.as_fd(), &mut buf), Err(Errno::ENOTSOCK));
/// # Ok::<(), Errno>(())
/// ```
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    let (ptr, len) = (buf.as_mut_ptr() as usize, buf.len());
    // SAFETY: the kernel writes at most `len` bytes into `buf`, which stays mutably borrowed
    // meanwhile; null address pointers ask for no sender's address.
    let r = unsafe {
        arch::syscall6(
            nr(k::__NR_recvfrom),
            fd.as_raw_fd() as usize,
            ptr,
            len,
            0,
            0,
            0,
        )
    };
    Errno::result(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{read, write, AsFd};

    /// Listens on `addr` (port 0), connects to it, accepts, and sends bytes both ways.
    fn round_trip(addr: SocketAddr) -> Result<(), Errno> {
        let domain = addr.domain().unwrap();
        let listener = socket(domain, SocketType::Stream, 0)?;
        setsockopt(listener.as_fd(), SockOpt::ReuseAddr, true)?;
        setsockopt(listener.as_fd(), SockOpt::ReusePort, true)?;
        bind(listener.as_fd(), &addr)?;
        listen(listener.as_fd(), 16)?;
        let bound = local_addr(listener.as_fd())?;
        assert_eq!(Some(local_port(listener.as_fd())?), bound.port());
        assert_eq!(bound.domain(), addr.domain());
        assert_ne!(bound.port(), Some(0), "the kernel picked no port");
        let client = socket(domain, SocketType::Stream, SOCK_NONBLOCK)?;
        match connect(client.as_fd(), &bound) {
            Ok(()) | Err(Errno::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let (server, peer) = accept(listener.as_fd(), SOCK_NONBLOCK)?;
        assert_eq!(peer, local_addr(client.as_fd())?);
        setsockopt(server.as_fd(), SockOpt::NoDelay, true)?;
        assert_eq!(write(server.as_fd(), b"ping")?, 4);
        let mut buf = [0u8; 8];
        let n = loop {
            match read(client.as_fd(), &mut buf) {
                Err(Errno::EAGAIN) => continue,
                other => break other?,
            }
        };
        assert_eq!(&buf[..n], b"ping");
        shutdown(client.as_fd(), Shutdown::Write)?;
        let n = loop {
            match read(server.as_fd(), &mut buf) {
                Err(Errno::EAGAIN) => continue,
                other => break other?,
            }
        };
        assert_eq!(n, 0, "no end of file after shutdown");
        assert_eq!(send(server.as_fd(), b"pong")?, 4);
        Ok(())
    }

    /// `send` on a socket whose write side is shut gives EPIPE and raises no SIGPIPE, where
    /// `write` raises one. (std ignores SIGPIPE in test processes, and an ignored signal is
    /// dropped unseen; a blocked one stays pending, so the thread blocks it and watches.)
    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets or signals")]
    fn send_raises_no_sigpipe_where_write_does() {
        use crate::sys::{read_siginfo, signalfd, sigprocmask, MaskHow, SigSet, Signal};
        std::thread::spawn(|| {
            let pipe = SigSet::of(&[Signal::PIPE]);
            sigprocmask(MaskHow::Block, pipe).unwrap(); // this thread only; it ends here
            let watch = signalfd(pipe, crate::sys::SFD_NONBLOCK).unwrap();
            let listener = socket(Domain::V4, SocketType::Stream, 0).unwrap();
            bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0)).unwrap();
            listen(listener.as_fd(), 1).unwrap();
            let client = socket(Domain::V4, SocketType::Stream, 0).unwrap();
            connect(client.as_fd(), &local_addr(listener.as_fd()).unwrap()).unwrap();
            shutdown(client.as_fd(), Shutdown::Write).unwrap();
            assert_eq!(send(client.as_fd(), b"late"), Err(Errno::EPIPE));
            assert_eq!(
                read_siginfo(watch.as_fd()).unwrap(),
                None,
                "send raised SIGPIPE"
            );
            assert_eq!(write(client.as_fd(), b"late"), Err(Errno::EPIPE));
            let raised = read_siginfo(watch.as_fd()).unwrap();
            assert_eq!(raised.map(|info| info.signal), Some(Signal::PIPE));
        })
        .join()
        .unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn tcp_over_ipv4_loopback() {
        round_trip(SocketAddr::v4([127, 0, 0, 1], 0)).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn tcp_over_ipv6_loopback() {
        let mut lo = [0u8; 16];
        lo[15] = 1;
        match round_trip(SocketAddr::v6(lo, 0)) {
            // A machine may have no IPv6 at all; that is not this code's failure.
            Err(Errno::EAFNOSUPPORT | Errno::EADDRNOTAVAIL) => {}
            other => other.unwrap(),
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn socket_calls_on_a_pipe_are_refused() {
        let (r, _w) = crate::sys::pipe(0).unwrap();
        assert_eq!(listen(r.as_fd(), 1), Err(Errno::ENOTSOCK));
        assert_eq!(local_addr(r.as_fd()), Err(Errno::ENOTSOCK));
    }

    /// An accepted Unix-domain connection reaches the caller: never accepted and then closed.
    /// (std's listener, so that the test also ran on the code before Unix addresses existed.)
    #[test]
    #[cfg(feature = "std")]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn accept_on_a_unix_listener_hands_over_the_connection() {
        use std::io::Read;
        use std::os::unix::net::{UnixListener, UnixStream};
        let dir = std::env::temp_dir().join(std::format!("barepoll-accept-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let mut client = UnixStream::connect(&path).unwrap();
        let got = accept(listener.as_fd(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
        let (conn, _peer) = got.expect("the connection was accepted and lost");
        assert_eq!(write(conn.as_fd(), b"hi"), Ok(2));
        let mut buf = [0u8; 2];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
    }

    /// A Unix-domain stream over an abstract name: the peer of an accepted connection is the
    /// unnamed address, the client sees the listener's name, bytes flow both ways.
    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn unix_stream_over_an_abstract_name() {
        use crate::sys::UnixAddr;
        let name = alloc::format!("barepoll-stream-{}", crate::sys::getpid().unwrap());
        let addr = SocketAddr::Unix(UnixAddr::abstract_name(name.as_bytes()).unwrap());
        let listener = socket(Domain::Unix, SocketType::Stream, 0).unwrap();
        bind(listener.as_fd(), &addr).unwrap();
        listen(listener.as_fd(), 4).unwrap();
        let client = socket(Domain::Unix, SocketType::Stream, 0).unwrap();
        connect(client.as_fd(), &addr).unwrap();
        let (conn, peer) = accept(listener.as_fd(), 0).unwrap();
        assert_eq!(peer, SocketAddr::Unix(UnixAddr::unnamed()));
        assert_eq!(local_port(listener.as_fd()), Err(Errno::EAFNOSUPPORT));
        // A second connection, taken without its address.
        let second = socket(Domain::Unix, SocketType::Stream, 0).unwrap();
        connect(second.as_fd(), &addr).unwrap();
        let conn2 = accept_socket(listener.as_fd(), SOCK_NONBLOCK).unwrap();
        assert_eq!(send(second.as_fd(), b"2"), Ok(1));
        assert_eq!(read(conn2.as_fd(), &mut [0; 1]), Ok(1));
        assert_eq!(peer_addr(client.as_fd()), Ok(addr));
        assert_eq!(send(client.as_fd(), b"ab"), Ok(2));
        let mut buf = [0u8; 2];
        assert_eq!(read(conn.as_fd(), &mut buf), Ok(2));
        assert_eq!(send(conn.as_fd(), b"cd"), Ok(2));
        assert_eq!(read(client.as_fd(), &mut buf), Ok(2));
        assert_eq!(&buf, b"cd");
        // Nothing listens on another name.
        let none = SocketAddr::Unix(UnixAddr::abstract_name(b"barepoll-nobody\0").unwrap());
        let lone = socket(Domain::Unix, SocketType::Stream, 0).unwrap();
        assert_eq!(connect(lone.as_fd(), &none), Err(Errno::ECONNREFUSED));
    }

    /// A non-blocking connect reports its outcome through `SO_ERROR`, once.
    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn take_error_tells_how_a_non_blocking_connect_ended() {
        // A port nobody listens on: bound, then closed.
        let gone = socket(Domain::V4, SocketType::Stream, 0).unwrap();
        bind(gone.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0)).unwrap();
        let refused = local_addr(gone.as_fd()).unwrap();
        drop(gone);
        let s = socket(Domain::V4, SocketType::Stream, SOCK_NONBLOCK).unwrap();
        let outcome = match connect(s.as_fd(), &refused) {
            Err(Errno::EINPROGRESS) => {
                let start = std::time::Instant::now();
                loop {
                    if let Some(e) = take_error(s.as_fd()).unwrap() {
                        break e;
                    }
                    assert!(start.elapsed().as_secs() < 30, "no outcome");
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            other => other.unwrap_err(),
        };
        assert_eq!(outcome, Errno::ECONNREFUSED);
        assert_eq!(take_error(s.as_fd()), Ok(None), "taken once");
        let (r, _w) = crate::sys::pipe(0).unwrap();
        assert_eq!(take_error(r.as_fd()), Err(Errno::ENOTSOCK));
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn a_socketpair_is_connected_and_close_on_exec() {
        let (a, b) = socketpair(SocketType::SeqPacket, SOCK_NONBLOCK).unwrap();
        assert_eq!(send(a.as_fd(), b"one"), Ok(3));
        assert_eq!(send(a.as_fd(), b"two"), Ok(3));
        let mut buf = [0u8; 8];
        assert_eq!(read(b.as_fd(), &mut buf), Ok(3), "message boundaries kept");
        assert_eq!(read(b.as_fd(), &mut buf), Ok(3));
        assert_eq!(read(b.as_fd(), &mut buf), Err(Errno::EAGAIN));
        for fd in [&a, &b] {
            let flags =
                std::fs::read_to_string(std::format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
                    .unwrap();
            let flags = flags.lines().find(|l| l.starts_with("flags:")).unwrap();
            let octal = u32::from_str_radix(flags.split_whitespace().nth(1).unwrap(), 8).unwrap();
            assert_ne!(octal & k::O_CLOEXEC, 0, "{flags}");
        }
    }

    /// vsock can only be checked as far as this kernel has it: where the family is missing
    /// the socket is refused with `EAFNOSUPPORT`; where it exists, a bind to any context and
    /// port either gets a port or is refused because no transport is loaded. The address
    /// reaches the kernel with its family either way: an IPv4 socket refuses it.
    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn vsock_where_the_kernel_has_it() {
        use crate::sys::VsockAddr;
        let any = SocketAddr::Vsock(VsockAddr {
            cid: VsockAddr::CID_ANY,
            port: VsockAddr::PORT_ANY,
        });
        let v4 = socket(Domain::V4, SocketType::Stream, 0).unwrap();
        assert_eq!(bind(v4.as_fd(), &any), Err(Errno::EAFNOSUPPORT));
        match socket(Domain::Vsock, SocketType::Stream, 0) {
            Err(Errno::EAFNOSUPPORT) => std::println!("no vsock in this kernel"),
            Err(e) => panic!("{e}"),
            Ok(s) => match bind(s.as_fd(), &any) {
                Ok(()) => match local_addr(s.as_fd()).unwrap() {
                    SocketAddr::Vsock(VsockAddr { port, .. }) => {
                        assert_ne!(port, VsockAddr::PORT_ANY, "no port picked")
                    }
                    other => panic!("{other:?}"),
                },
                Err(e) => {
                    std::println!("vsock bind refused: {e}");
                    assert!(matches!(e, Errno::EADDRNOTAVAIL | Errno::ENODEV), "{e}");
                }
            },
        }
    }
}
