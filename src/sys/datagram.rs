//! Datagrams with an address: `sendto` and `recvfrom`, for UDP over IPv4 and IPv6 and for
//! Unix-domain datagram sockets. Owns nothing but the two calls; addresses are
//! [`SocketAddr`]s, and `sendto` never raises `SIGPIPE`.

use super::addr::{RawAddr, STORAGE};
use super::fd::AsRawFd;
use super::{arch, k, nr, BorrowedFd, Errno, SocketAddr};
use linux_raw_sys::net as n;

/// Sends one datagram from `buf` to `addr` (`sendto`, `MSG_NOSIGNAL`); returns the bytes
/// sent.
///
/// # Errors
/// The kernel's error: `EAGAIN` (non-blocking, full), `EMSGSIZE` for a datagram too large,
/// `ECONNREFUSED` (a Unix peer that is gone), `EISCONN`, `ENOENT` for a Unix path with no
/// socket, ...; `EAFNOSUPPORT` for [`SocketAddr::Other`].
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, SocketAddr, SocketType};
/// let a = sys::socket(Domain::V4, SocketType::Datagram, 0)?;
/// sys::bind(a.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
/// let b = sys::socket(Domain::V4, SocketType::Datagram, 0)?;
/// sys::bind(b.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
/// sys::send_to(b.as_fd(), b"ping", &sys::local_addr(a.as_fd())?)?;
/// let mut buf = [0u8; 8];
/// let (len, from) = sys::recv_from(a.as_fd(), &mut buf)?;
/// assert_eq!((&buf[..len], from), (&b"ping"[..], Some(sys::local_addr(b.as_fd())?)));
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn send_to(fd: BorrowedFd<'_>, buf: &[u8], addr: &SocketAddr) -> Result<usize, Errno> {
    let mut raw = RawAddr::zeroed();
    let addr_len = addr.encode(&mut raw)?;
    let (ptr, len) = (buf.as_ptr() as usize, buf.len());
    let (fd, flags) = (fd.as_raw_fd() as usize, n::MSG_NOSIGNAL as usize);
    let addr_ptr = raw.bytes.as_ptr() as usize;
    // SAFETY: the kernel reads at most `len` bytes from `buf` and `addr_len` (at most 128)
    // bytes of address from `raw`, both live for the call.
    let r = unsafe { arch::syscall6(nr(k::__NR_sendto), fd, ptr, len, flags, addr_ptr, addr_len) };
    Errno::result(r)
}

/// Receives one datagram into `buf` (`recvfrom`); returns its length and the sender's
/// address: `None` when the sender has none (a Unix-domain socket that never bound, which
/// cannot be answered). A datagram longer than `buf` is cut to fit, and the rest is lost (the
/// length returned is what was stored).
///
/// # Errors
/// The kernel's error: `EAGAIN` (non-blocking, nothing queued), `EINTR`, `ENOTSOCK`, ...
///
/// ```
/// use barepoll::sys::{self, AsFd, Domain, Errno, SocketAddr, SocketType};
/// let s = sys::socket(Domain::V4, SocketType::Datagram, sys::SOCK_NONBLOCK)?;
/// sys::bind(s.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
/// assert_eq!(sys::recv_from(s.as_fd(), &mut [0; 4]), Err(Errno::EAGAIN));
/// # Ok::<(), Errno>(())
/// ```
pub fn recv_from(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(usize, Option<SocketAddr>), Errno> {
    let mut raw = RawAddr::zeroed();
    let mut addr_len = STORAGE as u32;
    let (ptr, len) = (buf.as_mut_ptr() as usize, buf.len());
    let (addr_ptr, len_ptr) = (
        raw.bytes.as_mut_ptr() as usize,
        core::ptr::addr_of_mut!(addr_len) as usize,
    );
    // SAFETY: the kernel writes at most `len` bytes into `buf`, at most `addr_len` (128)
    // bytes of address into `raw` and the address length into `addr_len`, all ours.
    let r = unsafe {
        arch::syscall6(
            nr(k::__NR_recvfrom),
            fd.as_raw_fd() as usize,
            ptr,
            len,
            0,
            addr_ptr,
            len_ptr,
        )
    };
    let got = Errno::result(r)?;
    let from = (addr_len != 0).then(|| SocketAddr::decode(&raw, addr_len as usize));
    Ok((got, from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{bind, local_addr, socket, AsFd, Domain, SocketType, UnixAddr};

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn udp_datagrams_carry_their_sender_over_ipv4_and_ipv6() {
        let mut lo6 = [0u8; 16];
        lo6[15] = 1;
        for here in [SocketAddr::v4([127, 0, 0, 1], 0), SocketAddr::v6(lo6, 0)] {
            let domain = here.domain().unwrap();
            let a = match socket(domain, SocketType::Datagram, 0) {
                Err(Errno::EAFNOSUPPORT) => continue, // a machine without IPv6
                other => other.unwrap(),
            };
            match bind(a.as_fd(), &here) {
                Err(Errno::EADDRNOTAVAIL) => continue,
                other => other.unwrap(),
            }
            let b = socket(domain, SocketType::Datagram, 0).unwrap();
            bind(b.as_fd(), &here).unwrap();
            let to = local_addr(a.as_fd()).unwrap();
            assert_eq!(send_to(b.as_fd(), b"0123456789", &to), Ok(10));
            let mut small = [0u8; 4];
            let (len, from) = recv_from(a.as_fd(), &mut small).unwrap();
            assert_eq!((len, &small), (4, b"0123"), "cut to fit");
            assert_eq!(from, Some(local_addr(b.as_fd()).unwrap()));
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn unix_datagrams_to_an_abstract_name_and_back() {
        let name = alloc::format!("barepoll-dgram-{}", crate::sys::getpid().unwrap());
        let server_addr = SocketAddr::Unix(UnixAddr::abstract_name(name.as_bytes()).unwrap());
        let server = socket(Domain::Unix, SocketType::Datagram, 0).unwrap();
        bind(server.as_fd(), &server_addr).unwrap();
        assert_eq!(local_addr(server.as_fd()), Ok(server_addr));
        let client = socket(Domain::Unix, SocketType::Datagram, 0).unwrap();
        assert_eq!(send_to(client.as_fd(), b"hello", &server_addr), Ok(5));
        let mut buf = [0u8; 16];
        let (len, from) = recv_from(server.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..len], b"hello");
        // The client never bound: it cannot be answered.
        assert_eq!(from, None);
        // Bound to a path, it can; a second bind of a name in use is refused.
        let dir = std::env::temp_dir().join(alloc::format!("barepoll-dgram-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("client");
        let client_addr = UnixAddr::path(path.to_str().unwrap().as_bytes()).unwrap();
        let bound = bind(client.as_fd(), &SocketAddr::Unix(client_addr));
        let other = socket(Domain::Unix, SocketType::Datagram, 0).unwrap();
        let again = bind(other.as_fd(), &SocketAddr::Unix(client_addr));
        std::fs::remove_dir_all(&dir).unwrap();
        bound.unwrap();
        assert_eq!(again, Err(Errno::EADDRINUSE));
        assert_eq!(send_to(client.as_fd(), b"again", &server_addr), Ok(5));
        let (len, from) = recv_from(server.as_fd(), &mut buf).unwrap();
        assert_eq!(
            (&buf[..len], from),
            (&b"again"[..], Some(SocketAddr::Unix(client_addr)))
        );
    }
}
