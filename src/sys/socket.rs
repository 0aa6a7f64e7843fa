//! Sockets without libc: IPv4 and IPv6 addresses, and the calls a network program needs
//! (`socket`, `bind`, `listen`, `accept4`, `connect`, `setsockopt`, `getsockname`,
//! `shutdown`, and `send` without `SIGPIPE`). Every socket is close-on-exec.

use super::fd::AsRawFd;
use super::{arch, k, nr, owned, BorrowedFd, Errno, OwnedFd};
use core::fmt;
use linux_raw_sys::net as n;

/// `socket` and `accept` flag: the socket never blocks (calls fail with [`Errno::EAGAIN`]).
pub const SOCK_NONBLOCK: u32 = k::O_NONBLOCK;

/// An IPv4 or IPv6 socket address, with no libc type behind it.
///
/// ```
/// use barepoll::sys::SocketAddr;
///
/// let a = SocketAddr::v4([127, 0, 0, 1], 8080);
/// assert_eq!(a.to_string(), "127.0.0.1:8080");
/// assert_eq!(SocketAddr::v6([0; 16], 80).port(), 80);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SocketAddr {
    /// IPv4.
    V4 {
        /// The address, most significant byte first (`[127, 0, 0, 1]`).
        ip: [u8; 4],
        /// The port.
        port: u16,
    },
    /// IPv6.
    V6 {
        /// The address, most significant byte first.
        ip: [u8; 16],
        /// The port.
        port: u16,
        /// Flow information.
        flowinfo: u32,
        /// The scope (interface) of a link-local address.
        scope_id: u32,
    },
}

impl SocketAddr {
    /// An IPv4 address and port.
    ///
    /// ```
    /// assert_eq!(barepoll::sys::SocketAddr::v4([10, 0, 0, 1], 80).port(), 80);
    /// ```
    pub const fn v4(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::V4 { ip, port }
    }

    /// An IPv6 address and port.
    ///
    /// ```
    /// let mut lo = [0; 16];
    /// lo[15] = 1;
    /// assert_eq!(barepoll::sys::SocketAddr::v6(lo, 443).to_string(), "[0:0:0:0:0:0:0:1]:443");
    /// ```
    pub const fn v6(ip: [u8; 16], port: u16) -> SocketAddr {
        SocketAddr::V6 {
            ip,
            port,
            flowinfo: 0,
            scope_id: 0,
        }
    }

    /// The port.
    ///
    /// ```
    /// assert_eq!(barepoll::sys::SocketAddr::v4([127, 0, 0, 1], 8080).port(), 8080);
    /// ```
    pub const fn port(&self) -> u16 {
        match *self {
            SocketAddr::V4 { port, .. } | SocketAddr::V6 { port, .. } => port,
        }
    }

    /// The family a socket for this address needs.
    ///
    /// ```
    /// use barepoll::sys::{Domain, SocketAddr};
    /// assert_eq!(SocketAddr::v6([0; 16], 1).domain(), Domain::V6);
    /// ```
    pub const fn domain(&self) -> Domain {
        match self {
            SocketAddr::V4 { .. } => Domain::V4,
            SocketAddr::V6 { .. } => Domain::V6,
        }
    }

    fn raw(&self) -> Raw {
        match *self {
            SocketAddr::V4 { ip, port } => Raw {
                v4: n::sockaddr_in {
                    sin_family: n::AF_INET as u16,
                    sin_port: port.to_be(),
                    sin_addr: n::in_addr {
                        s_addr: u32::from_ne_bytes(ip),
                    },
                    __pad: [0; 8],
                },
            },
            SocketAddr::V6 {
                ip,
                port,
                flowinfo,
                scope_id,
            } => Raw {
                v6: n::sockaddr_in6 {
                    sin6_family: n::AF_INET6 as u16,
                    sin6_port: port.to_be(),
                    sin6_flowinfo: flowinfo.to_be(),
                    sin6_addr: n::in6_addr {
                        in6_u: n::in6_addr__bindgen_ty_1 { u6_addr8: ip },
                    },
                    sin6_scope_id: scope_id,
                },
            },
        }
    }

    fn raw_len(&self) -> usize {
        match self {
            SocketAddr::V4 { .. } => core::mem::size_of::<n::sockaddr_in>(),
            SocketAddr::V6 { .. } => core::mem::size_of::<n::sockaddr_in6>(),
        }
    }

    /// Decodes what the kernel wrote; `None` for a family other than IPv4 and IPv6.
    fn from_raw(raw: &Raw) -> Option<SocketAddr> {
        // SAFETY: every variant starts with the family field, and the union was zeroed
        // before the kernel wrote into it, so reading any variant's bytes is defined.
        let family = unsafe { raw.v4.sin_family } as u32;
        match family {
            n::AF_INET => {
                // SAFETY: the kernel wrote a `sockaddr_in` (its family says so).
                let v4 = unsafe { raw.v4 };
                Some(SocketAddr::v4(
                    v4.sin_addr.s_addr.to_ne_bytes(),
                    u16::from_be(v4.sin_port),
                ))
            }
            n::AF_INET6 => {
                // SAFETY: the kernel wrote a `sockaddr_in6` (its family says so); any 16
                // bytes are a valid `u6_addr8`.
                let (v6, ip) = unsafe { (raw.v6, raw.v6.sin6_addr.in6_u.u6_addr8) };
                Some(SocketAddr::V6 {
                    ip,
                    port: u16::from_be(v6.sin6_port),
                    flowinfo: u32::from_be(v6.sin6_flowinfo),
                    scope_id: v6.sin6_scope_id,
                })
            }
            _ => None,
        }
    }
}

impl fmt::Display for SocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddr::V4 { ip, port } => {
                write!(f, "{}.{}.{}.{}:{port}", ip[0], ip[1], ip[2], ip[3])
            }
            SocketAddr::V6 { ip, port, .. } => {
                write!(f, "[")?;
                for (i, pair) in ip.chunks(2).enumerate() {
                    let sep = if i == 0 { "" } else { ":" };
                    write!(f, "{sep}{:x}", u16::from_be_bytes([pair[0], pair[1]]))?;
                }
                write!(f, "]:{port}")
            }
        }
    }
}

/// Room for either address family, as the kernel reads and writes them.
#[repr(C)]
#[derive(Clone, Copy)]
union Raw {
    v4: n::sockaddr_in,
    v6: n::sockaddr_in6,
}

static_assertions::assert_eq_size!(n::sockaddr_in, [u8; 16]);
static_assertions::assert_eq_size!(n::sockaddr_in6, [u8; 28]);

/// An address family.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Domain {
    /// `AF_INET`.
    V4 = n::AF_INET as isize,
    /// `AF_INET6`.
    V6 = n::AF_INET6 as isize,
}

/// A socket type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SocketType {
    /// `SOCK_STREAM`: TCP.
    Stream = n::SOCK_STREAM as isize,
    /// `SOCK_DGRAM`: UDP.
    Datagram = n::SOCK_DGRAM as isize,
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

/// Binds `fd` to `addr` (port 0 picks a free one; see [`local_addr`]).
///
/// # Errors
/// The kernel's error (`EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES` for a privileged port, `EINVAL`
/// if bound already).
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, SocketAddr, SocketType};
/// let listener = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// sys::bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
/// sys::listen(listener.as_fd(), 16)?;
/// let addr = sys::local_addr(listener.as_fd())?;
/// assert_ne!(addr.port(), 0);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn bind(fd: BorrowedFd<'_>, addr: &SocketAddr) -> Result<(), Errno> {
    let raw = addr.raw();
    let ptr = core::ptr::addr_of!(raw) as usize;
    // SAFETY: the kernel reads `raw_len` bytes of a live socket address from `ptr`.
    let r = unsafe {
        arch::syscall3_readonly(
            nr(k::__NR_bind),
            fd.as_raw_fd() as usize,
            ptr,
            addr.raw_len(),
        )
    };
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

/// Accepts a connection (`accept4`, close-on-exec); `flags` may hold [`SOCK_NONBLOCK`].
/// Returns the new socket and the peer's address.
///
/// # Errors
/// The kernel's error: `EAGAIN` on a non-blocking listener with nothing pending, `EMFILE`,
/// `ECONNABORTED`, `EINTR`, ...
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
    let mut raw = Raw { v6: zeroed_v6() };
    let mut len = core::mem::size_of::<Raw>() as u32;
    let (ptr, len_ptr) = (
        core::ptr::addr_of_mut!(raw) as usize,
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
    let peer = SocketAddr::from_raw(&raw).ok_or(Errno::EINVAL)?;
    Ok((conn, peer))
}

/// Connects `fd` to `addr`. A non-blocking socket gives `EINPROGRESS`: it is writable once
/// the connection is made (or failed).
///
/// # Errors
/// The kernel's error: `ECONNREFUSED`, `EINPROGRESS` (non-blocking), `ENETUNREACH`,
/// `ETIMEDOUT`, ...
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, Errno, SocketAddr, SocketType};
/// let s = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// // Nothing listens on port 1 of loopback.
/// assert_eq!(sys::connect(s.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 1)), Err(Errno::ECONNREFUSED));
/// # Ok::<(), Errno>(())
/// ```
pub fn connect(fd: BorrowedFd<'_>, addr: &SocketAddr) -> Result<(), Errno> {
    let raw = addr.raw();
    let ptr = core::ptr::addr_of!(raw) as usize;
    let fd = fd.as_raw_fd() as usize;
    // SAFETY: the kernel reads `raw_len` bytes of a live socket address from `ptr`.
    let r = unsafe { arch::syscall3_readonly(nr(k::__NR_connect), fd, ptr, addr.raw_len()) };
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

/// The address `fd` is bound to (`getsockname`): the port the kernel picked for port 0.
///
/// # Errors
/// The kernel's error (`ENOTSOCK`, `EBADF`); `EINVAL` for a family other than IPv4 and IPv6.
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, SocketAddr, SocketType};
/// let listener = sys::socket(Domain::V4, SocketType::Stream, 0)?;
/// sys::bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
/// sys::listen(listener.as_fd(), 16)?;
/// let addr = sys::local_addr(listener.as_fd())?;
/// assert_eq!(addr.domain(), Domain::V4);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn local_addr(fd: BorrowedFd<'_>) -> Result<SocketAddr, Errno> {
    let mut raw = Raw { v6: zeroed_v6() };
    let mut len = core::mem::size_of::<Raw>() as u32;
    let (ptr, len_ptr) = (
        core::ptr::addr_of_mut!(raw) as usize,
        core::ptr::addr_of_mut!(len) as usize,
    );
    let fd = fd.as_raw_fd() as usize;
    // SAFETY: the kernel writes at most `len` bytes of address into `raw` and the length into
    // `len`, both ours to write.
    let r = unsafe { arch::syscall3(nr(k::__NR_getsockname), fd, ptr, len_ptr) };
    Errno::result(r)?;
    SocketAddr::from_raw(&raw).ok_or(Errno::EINVAL)
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

fn zeroed_v6() -> n::sockaddr_in6 {
    n::sockaddr_in6 {
        sin6_family: 0,
        sin6_port: 0,
        sin6_flowinfo: 0,
        sin6_addr: n::in6_addr {
            in6_u: n::in6_addr__bindgen_ty_1 { u6_addr8: [0; 16] },
        },
        sin6_scope_id: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{read, write, AsFd};
    use alloc::string::ToString;

    /// Listens on `addr` (port 0), connects to it, accepts, and sends bytes both ways.
    fn round_trip(addr: SocketAddr) -> Result<(), Errno> {
        let listener = socket(addr.domain(), SocketType::Stream, 0)?;
        setsockopt(listener.as_fd(), SockOpt::ReuseAddr, true)?;
        setsockopt(listener.as_fd(), SockOpt::ReusePort, true)?;
        bind(listener.as_fd(), &addr)?;
        listen(listener.as_fd(), 16)?;
        let bound = local_addr(listener.as_fd())?;
        assert_eq!(bound.domain(), addr.domain());
        assert_ne!(bound.port(), 0, "the kernel picked no port");
        let client = socket(addr.domain(), SocketType::Stream, SOCK_NONBLOCK)?;
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
    fn addresses_print() {
        let mut lo = [0u8; 16];
        lo[15] = 1;
        assert_eq!(SocketAddr::v6(lo, 9).to_string(), "[0:0:0:0:0:0:0:1]:9");
        assert_eq!(
            SocketAddr::v4([10, 1, 2, 3], 65535).to_string(),
            "10.1.2.3:65535"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn socket_calls_on_a_pipe_are_refused() {
        let (r, _w) = crate::sys::pipe(0).unwrap();
        assert_eq!(listen(r.as_fd(), 1), Err(Errno::ENOTSOCK));
        assert_eq!(local_addr(r.as_fd()), Err(Errno::ENOTSOCK));
    }
}
