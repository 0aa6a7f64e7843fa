//! Socket addresses of every family a program meets: IPv4, IPv6, Unix domain (a path, an
//! abstract name, or unnamed), vsock, and any other family the kernel reports, kept as its
//! number. Owns the translation to and from the kernel's byte layout (`sockaddr_storage`,
//! 128 bytes), done field by field on a byte array: no union is read here, so a short or odd
//! address from the kernel decodes to something, never to undefined behaviour. Makes no call.

use super::Errno;
use core::fmt;
use linux_raw_sys::net as n;

/// The kernel's room for any address (`sockaddr_storage`).
pub(crate) const STORAGE: usize = 128;
/// The bytes of `sun_path`.
const SUN_PATH: usize = 108;
/// Where `sun_path` starts (after the family).
const SUN_PATH_AT: usize = 2;

/// An address as the kernel reads and writes it, aligned like `sockaddr_storage`.
#[repr(C, align(8))]
pub(crate) struct RawAddr {
    pub(crate) bytes: [u8; STORAGE],
}

impl RawAddr {
    pub(crate) const fn zeroed() -> RawAddr {
        RawAddr {
            bytes: [0; STORAGE],
        }
    }
}

/// A Unix-domain socket address: a path in the file system, a name in the abstract
/// namespace (Linux; no file, gone when the socket closes), or unnamed (a socket never
/// bound, as an accepted connection's peer usually is).
///
/// ```
/// use barepoll::sys::UnixAddr;
/// let a = UnixAddr::path(b"/run/app.sock")?;
/// assert_eq!(a.as_path(), Some(&b"/run/app.sock"[..]));
/// let b = UnixAddr::abstract_name(b"app")?;
/// assert_eq!(b.as_abstract(), Some(&b"app"[..]));
/// assert_eq!(b.to_string(), "@app");
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
#[derive(Clone, Copy)]
pub struct UnixAddr {
    /// `sun_path` as the kernel holds it: a path without its terminating NUL, or a NUL and
    /// then an abstract name; `len` bytes of it count.
    path: [u8; SUN_PATH],
    len: u8,
}

impl UnixAddr {
    /// A path in the file system: not empty, no NUL byte, at most 107 bytes (room for the
    /// terminating NUL the kernel is given).
    ///
    /// # Errors
    /// `EINVAL` for an empty path or one with a NUL byte, `ENAMETOOLONG` for a long one.
    ///
    /// ```
    /// use barepoll::sys::{Errno, UnixAddr};
    /// assert!(UnixAddr::path(b"/tmp/s").is_ok());
    /// assert_eq!(UnixAddr::path(&[b'a'; 108]), Err(Errno::ENAMETOOLONG));
    /// assert_eq!(UnixAddr::path(b"a\0b"), Err(Errno::EINVAL));
    /// ```
    pub fn path(path: &[u8]) -> Result<UnixAddr, Errno> {
        if path.is_empty() || path.contains(&0) {
            return Err(Errno::EINVAL);
        }
        if path.len() >= SUN_PATH {
            return Err(Errno::ENAMETOOLONG);
        }
        Ok(UnixAddr::from_sun_path(path))
    }

    /// A name in the abstract namespace: any bytes, at most 107 (the kernel's leading NUL
    /// takes one). No file is made; the name is free again when the socket closes.
    ///
    /// # Errors
    /// `ENAMETOOLONG` for a long name.
    ///
    /// ```
    /// use barepoll::sys::UnixAddr;
    /// assert_eq!(UnixAddr::abstract_name(b"x")?.as_path(), None);
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn abstract_name(name: &[u8]) -> Result<UnixAddr, Errno> {
        if name.len() >= SUN_PATH {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut addr = UnixAddr::from_sun_path(&[0]);
        addr.path[1..=name.len()].copy_from_slice(name);
        addr.len = name.len() as u8 + 1;
        Ok(addr)
    }

    /// The unnamed address (of a socket that was never bound).
    ///
    /// ```
    /// assert!(barepoll::sys::UnixAddr::unnamed().is_unnamed());
    /// ```
    pub const fn unnamed() -> UnixAddr {
        UnixAddr {
            path: [0; SUN_PATH],
            len: 0,
        }
    }

    /// `bytes` must fit `sun_path` (callers check).
    fn from_sun_path(bytes: &[u8]) -> UnixAddr {
        let mut path = [0; SUN_PATH];
        path[..bytes.len()].copy_from_slice(bytes);
        UnixAddr {
            path,
            len: bytes.len() as u8,
        }
    }

    /// The path, for an address in the file system.
    ///
    /// ```
    /// use barepoll::sys::UnixAddr;
    /// assert_eq!(UnixAddr::unnamed().as_path(), None);
    /// ```
    pub fn as_path(&self) -> Option<&[u8]> {
        let used = self.used();
        match used.first() {
            Some(0) | None => None,
            Some(_) => Some(used),
        }
    }

    /// The name, for an address in the abstract namespace.
    ///
    /// ```
    /// use barepoll::sys::UnixAddr;
    /// assert_eq!(UnixAddr::path(b"/x")?.as_abstract(), None);
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn as_abstract(&self) -> Option<&[u8]> {
        let used = self.used();
        match used.split_first() {
            Some((0, name)) => Some(name),
            _ => None,
        }
    }

    /// Whether this is the unnamed address.
    ///
    /// ```
    /// use barepoll::sys::UnixAddr;
    /// assert!(!UnixAddr::abstract_name(b"")?.is_unnamed());
    /// # Ok::<(), barepoll::sys::Errno>(())
    /// ```
    pub fn is_unnamed(&self) -> bool {
        self.len == 0
    }

    /// The length the kernel is given: family, the bytes, and a path's terminating NUL
    /// (the bytes past `len` are zero).
    fn encode(&self, raw: &mut RawAddr) -> usize {
        let used = self.used();
        raw.bytes[SUN_PATH_AT..SUN_PATH_AT + used.len()].copy_from_slice(used);
        let nul = usize::from(self.as_path().is_some());
        SUN_PATH_AT + usize::from(self.len) + nul
    }

    /// From `sun_path` as the kernel reported it, `used` bytes of it (a path may carry its
    /// NUL).
    fn decode(raw: &RawAddr, used: usize) -> UnixAddr {
        let used = used.min(SUN_PATH);
        let mut path = [0; SUN_PATH];
        path.copy_from_slice(&raw.bytes[SUN_PATH_AT..SUN_PATH_AT + SUN_PATH]);
        let len = match path[..used].iter().position(|&b| b == 0) {
            // An abstract name: every byte counts, NULs included.
            Some(0) => used,
            Some(end) => end,
            None => used,
        };
        // The bytes past `len` may be anything: equality and hashing look at `len` only.
        UnixAddr {
            path,
            len: len as u8,
        }
    }
}

impl UnixAddr {
    /// The bytes that count.
    fn used(&self) -> &[u8] {
        &self.path[..usize::from(self.len).min(SUN_PATH)]
    }
}

impl PartialEq for UnixAddr {
    fn eq(&self, other: &UnixAddr) -> bool {
        self.used() == other.used()
    }
}

impl Eq for UnixAddr {}

impl core::hash::Hash for UnixAddr {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.used().hash(state);
    }
}

impl fmt::Debug for UnixAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixAddr({self})")
    }
}

/// Paths and names print as their bytes (non-ASCII escaped); an abstract name starts with
/// `@`, the unnamed address is `(unnamed)`.
impl fmt::Display for UnixAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = match (self.as_path(), self.as_abstract()) {
            (Some(path), _) => path,
            (None, Some(name)) => {
                f.write_str("@")?;
                name
            }
            (None, None) => return f.write_str("(unnamed)"),
        };
        write!(f, "{}", bytes.escape_ascii())
    }
}

/// A vsock address (`AF_VSOCK`): a context id (the machine: [`VsockAddr::CID_HOST`] is the
/// host seen from a guest) and a port.
///
/// ```
/// use barepoll::sys::{SocketAddr, VsockAddr};
/// let a = SocketAddr::Vsock(VsockAddr { cid: VsockAddr::CID_HOST, port: 1024 });
/// assert_eq!(a.to_string(), "vsock:2:1024");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct VsockAddr {
    /// The context id.
    pub cid: u32,
    /// The port.
    pub port: u32,
}

impl VsockAddr {
    /// Any context id (to bind).
    pub const CID_ANY: u32 = u32::MAX;
    /// This machine, through the loopback transport.
    pub const CID_LOCAL: u32 = 1;
    /// The host, seen from a guest.
    pub const CID_HOST: u32 = 2;
    /// Any port (to bind: the kernel picks one).
    pub const PORT_ANY: u32 = u32::MAX;
}

/// A socket address of any family, with no libc type behind it.
///
/// ```
/// use barepoll::sys::{SocketAddr, UnixAddr};
///
/// let a = SocketAddr::v4([127, 0, 0, 1], 8080);
/// assert_eq!(a.to_string(), "127.0.0.1:8080");
/// assert_eq!(SocketAddr::v6([0; 16], 80).port(), Some(80));
/// let u = SocketAddr::Unix(UnixAddr::abstract_name(b"app")?);
/// assert_eq!(u.port(), None);
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
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
    /// Unix domain.
    Unix(UnixAddr),
    /// vsock.
    Vsock(VsockAddr),
    /// A family this type does not decode (the kernel reported it; it cannot be bound or
    /// connected to through this type).
    Other {
        /// The family number (`AF_*`).
        family: u16,
    },
}

impl SocketAddr {
    /// An IPv4 address and port.
    ///
    /// ```
    /// assert_eq!(barepoll::sys::SocketAddr::v4([10, 0, 0, 1], 80).port(), Some(80));
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

    /// The port of an IPv4 or IPv6 address; `None` for the families without one (a vsock
    /// port is a field of [`VsockAddr`]).
    ///
    /// ```
    /// assert_eq!(barepoll::sys::SocketAddr::v4([127, 0, 0, 1], 8080).port(), Some(8080));
    /// ```
    pub const fn port(&self) -> Option<u16> {
        match *self {
            SocketAddr::V4 { port, .. } | SocketAddr::V6 { port, .. } => Some(port),
            _ => None,
        }
    }

    /// The family a socket for this address needs; `None` for [`SocketAddr::Other`].
    ///
    /// ```
    /// use barepoll::sys::{Domain, SocketAddr};
    /// assert_eq!(SocketAddr::v6([0; 16], 1).domain(), Some(Domain::V6));
    /// ```
    pub const fn domain(&self) -> Option<Domain> {
        match self {
            SocketAddr::V4 { .. } => Some(Domain::V4),
            SocketAddr::V6 { .. } => Some(Domain::V6),
            SocketAddr::Unix(_) => Some(Domain::Unix),
            SocketAddr::Vsock(_) => Some(Domain::Vsock),
            SocketAddr::Other { .. } => None,
        }
    }

    /// Writes the kernel's form into `raw` (zeroed) and returns its length. Inlined: a
    /// caller with a known address keeps only its family's arm.
    #[inline]
    pub(crate) fn encode(&self, raw: &mut RawAddr) -> Result<usize, Errno> {
        let family = match self.domain() {
            Some(domain) => domain as u16,
            None => return Err(Errno::EAFNOSUPPORT),
        };
        let b = &mut raw.bytes;
        [b[0], b[1]] = family.to_ne_bytes();
        Ok(match *self {
            SocketAddr::V4 { ip, port } => {
                [b[2], b[3]] = port.to_be_bytes();
                [b[4], b[5], b[6], b[7]] = ip;
                core::mem::size_of::<n::sockaddr_in>()
            }
            SocketAddr::V6 {
                ip,
                port,
                flowinfo,
                scope_id,
            } => {
                b[2..4].copy_from_slice(&port.to_be_bytes());
                b[4..8].copy_from_slice(&flowinfo.to_be_bytes());
                b[8..24].copy_from_slice(&ip);
                b[24..28].copy_from_slice(&scope_id.to_ne_bytes());
                core::mem::size_of::<n::sockaddr_in6>()
            }
            SocketAddr::Unix(ref unix) => unix.encode(raw),
            SocketAddr::Vsock(VsockAddr { cid, port }) => {
                // sockaddr_vm: family, 2 reserved, port, cid, flags and 3 zero bytes.
                b[4..8].copy_from_slice(&port.to_ne_bytes());
                b[8..12].copy_from_slice(&cid.to_ne_bytes());
                VSOCK_LEN
            }
            SocketAddr::Other { .. } => return Err(Errno::EAFNOSUPPORT),
        })
    }

    /// Decodes what the kernel wrote into `raw` (zeroed before the call, so bytes it did
    /// not write read as 0): `len` is the length it reported, which may exceed the room
    /// when it truncated.
    pub(crate) fn decode(raw: &RawAddr, len: usize) -> SocketAddr {
        let b = &raw.bytes;
        if len < 2 {
            return SocketAddr::Other {
                family: n::AF_UNSPEC as u16,
            };
        }
        let u16_at = |i: usize| [b[i], b[i + 1]];
        let u32_at = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        let family = u16::from_ne_bytes(u16_at(0));
        match u32::from(family) {
            n::AF_INET => SocketAddr::v4(u32_at(4), u16::from_be_bytes(u16_at(2))),
            n::AF_INET6 => {
                let mut ip = [0; 16];
                ip.copy_from_slice(&b[8..24]);
                SocketAddr::V6 {
                    ip,
                    port: u16::from_be_bytes(u16_at(2)),
                    flowinfo: u32::from_be_bytes(u32_at(4)),
                    scope_id: u32::from_ne_bytes(u32_at(24)),
                }
            }
            n::AF_UNIX => SocketAddr::Unix(UnixAddr::decode(raw, len - SUN_PATH_AT)),
            n::AF_VSOCK => SocketAddr::Vsock(VsockAddr {
                port: u32::from_ne_bytes(u32_at(4)),
                cid: u32::from_ne_bytes(u32_at(8)),
            }),
            _ => SocketAddr::Other { family },
        }
    }
}

/// `sizeof(struct sockaddr_vm)`.
const VSOCK_LEN: usize = 16;

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
            SocketAddr::Unix(unix) => write!(f, "{unix}"),
            SocketAddr::Vsock(VsockAddr { cid, port }) => write!(f, "vsock:{cid}:{port}"),
            SocketAddr::Other { family } => write!(f, "(address family {family})"),
        }
    }
}

/// An address family.
///
/// ```
/// use barepoll::sys::Domain;
/// assert_ne!(Domain::Unix, Domain::V4);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Domain {
    /// `AF_INET`.
    V4 = n::AF_INET as isize,
    /// `AF_INET6`.
    V6 = n::AF_INET6 as isize,
    /// `AF_UNIX`.
    Unix = n::AF_UNIX as isize,
    /// `AF_VSOCK`.
    Vsock = n::AF_VSOCK as isize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn round_trip(addr: SocketAddr) -> SocketAddr {
        let mut raw = RawAddr::zeroed();
        let len = addr.encode(&mut raw).unwrap();
        SocketAddr::decode(&raw, len)
    }

    #[test]
    fn every_family_encodes_and_decodes_to_itself() {
        let mut lo = [0u8; 16];
        lo[15] = 1;
        let v6 = SocketAddr::V6 {
            ip: lo,
            port: 9,
            flowinfo: 7,
            scope_id: 3,
        };
        let vsock = SocketAddr::Vsock(VsockAddr { cid: 3, port: 5000 });
        for addr in [
            SocketAddr::v4([10, 1, 2, 3], 65535),
            v6,
            SocketAddr::Unix(UnixAddr::path(b"/tmp/x.sock").unwrap()),
            SocketAddr::Unix(UnixAddr::abstract_name(b"a\0b").unwrap()),
            SocketAddr::Unix(UnixAddr::abstract_name(&[7; 107]).unwrap()),
            SocketAddr::Unix(UnixAddr::path(&[b'p'; 107]).unwrap()),
            SocketAddr::Unix(UnixAddr::unnamed()),
            vsock,
        ] {
            assert_eq!(round_trip(addr), addr);
        }
        let mut raw = RawAddr::zeroed();
        let other = SocketAddr::Other { family: 17 };
        assert_eq!(other.encode(&mut raw), Err(Errno::EAFNOSUPPORT));
    }

    #[test]
    fn odd_kernel_lengths_decode_without_reading_past_the_room() {
        let mut raw = RawAddr::zeroed();
        raw.bytes.fill(b'z');
        raw.bytes[..2].copy_from_slice(&(n::AF_UNIX as u16).to_ne_bytes());
        // A length past the room (a truncated address): only the room is read.
        let SocketAddr::Unix(unix) = SocketAddr::decode(&raw, 4096) else {
            panic!("not unix")
        };
        assert_eq!(unix.as_path().map(<[u8]>::len), Some(SUN_PATH));
        // Only the family: the unnamed address; shorter still: no family at all.
        assert_eq!(
            SocketAddr::decode(&raw, 2),
            SocketAddr::Unix(UnixAddr::unnamed())
        );
        assert_eq!(SocketAddr::decode(&raw, 1), SocketAddr::Other { family: 0 });
        raw.bytes[..2].copy_from_slice(&(n::AF_INET6 as u16).to_ne_bytes());
        assert!(matches!(SocketAddr::decode(&raw, 5), SocketAddr::V6 { .. }));
        raw.bytes[..2].copy_from_slice(&99u16.to_ne_bytes());
        assert_eq!(
            SocketAddr::decode(&raw, 16),
            SocketAddr::Other { family: 99 }
        );
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
        let unix = UnixAddr::path(b"/tmp/\xff").unwrap();
        assert_eq!(SocketAddr::Unix(unix).to_string(), "/tmp/\\xff");
        assert_eq!(UnixAddr::unnamed().to_string(), "(unnamed)");
        assert_eq!(
            UnixAddr::abstract_name(b"\x01").unwrap().to_string(),
            "@\\x01"
        );
    }
}
