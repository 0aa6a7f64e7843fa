//! Passing descriptors over a Unix-domain socket (`SCM_RIGHTS`): `sendmsg` with the
//! descriptors as ancillary data, and `recvmsg` that takes ownership of every descriptor the
//! kernel installed, close-on-exec (`MSG_CMSG_CLOEXEC`). A message whose descriptors did not
//! all fit (`MSG_CTRUNC`) is reported, and the ones that came are closed: a caller never
//! holds part of a set. The control buffer lives on the stack; only the caller's `Vec`
//! grows.

use super::fd::AsRawFd;
use super::{arch, k, nr, owned, BorrowedFd, Errno, OwnedFd};
use alloc::vec::Vec;
use linux_raw_sys::net as n;

/// The most descriptors one message carries (the kernel's `SCM_MAX_FD`).
pub const MAX_FDS_PER_MESSAGE: usize = 253;

const HEADER: usize = core::mem::size_of::<n::cmsghdr>();
static_assertions::const_assert_eq!(HEADER, 16);
/// Room for one `SCM_RIGHTS` message of the most descriptors, in 8-byte words.
const CONTROL_WORDS: usize = (HEADER + MAX_FDS_PER_MESSAGE * 4 + 7) / 8;

const fn space(fds: usize) -> usize {
    HEADER + (fds * 4 + 7) / 8 * 8
}

/// What [`recv_fds`] received.
///
/// ```
/// use barepoll::sys::Received;
/// let r = Received { len: 1, data_truncated: false, fds_truncated: false };
/// assert_eq!(r.len, 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Received {
    /// The bytes of data stored (0 at end of file on a stream).
    pub len: usize,
    /// A datagram was longer than the buffer; the rest is lost (`MSG_TRUNC`).
    pub data_truncated: bool,
    /// The message carried more descriptors than there was room for (`MSG_CTRUNC`): none
    /// of them was kept; those the kernel had installed are closed.
    pub fds_truncated: bool,
}

/// Sends `data` with the descriptors `fds` (`sendmsg`, `SCM_RIGHTS`, no `SIGPIPE`); returns
/// the bytes of data sent. On a stream socket send at least one byte: the descriptors
/// travel with it. The receiver gets new descriptors for the same files; these stay open
/// here.
///
/// # Errors
/// The kernel's error: `EAGAIN`, `EPIPE`, `ENOTCONN`, `EBADF` for a descriptor that is not
/// open, `ETOOMANYREFS`; `EINVAL` for more than [`MAX_FDS_PER_MESSAGE`].
///
/// ```
/// use barepoll::sys::{self, AsFd, SocketType};
/// let (a, b) = sys::socketpair(SocketType::Stream, 0)?;
/// let (r, w) = sys::pipe(0)?;
/// sys::send_fds(a.as_fd(), b"w", &[w.as_fd()])?;
/// let mut fds = Vec::new();
/// let got = sys::recv_fds(b.as_fd(), &mut [0; 1], &mut fds, 4)?;
/// assert_eq!((got.len, fds.len()), (1, 1));
/// sys::write(fds[0].as_fd(), b"!")?; // the received copy writes into the same pipe
/// assert_eq!(sys::read(r.as_fd(), &mut [0; 1])?, 1);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn send_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<usize, Errno> {
    if fds.len() > MAX_FDS_PER_MESSAGE {
        return Err(Errno::EINVAL);
    }
    let mut control = [0u64; CONTROL_WORDS];
    let bytes = words_as_bytes(&mut control);
    let len = HEADER + fds.len() * 4;
    bytes[..8].copy_from_slice(&len.to_ne_bytes());
    bytes[8..12].copy_from_slice(&(n::SOL_SOCKET as i32).to_ne_bytes());
    bytes[12..16].copy_from_slice(&(n::SCM_RIGHTS as i32).to_ne_bytes());
    for (i, fd) in fds.iter().enumerate() {
        bytes[HEADER + i * 4..HEADER + i * 4 + 4].copy_from_slice(&fd.as_raw_fd().to_ne_bytes());
    }
    let mut iov = k::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len() as _,
    };
    let msg = n::msghdr {
        msg_name: core::ptr::null_mut(),
        msg_namelen: 0,
        msg_iov: core::ptr::addr_of_mut!(iov).cast(),
        msg_iovlen: 1,
        msg_control: if fds.is_empty() {
            core::ptr::null_mut()
        } else {
            control.as_mut_ptr().cast()
        },
        msg_controllen: if fds.is_empty() { 0 } else { space(fds.len()) },
        msg_flags: 0,
    };
    let (sock, ptr) = (sock.as_raw_fd() as usize, core::ptr::addr_of!(msg) as usize);
    // SAFETY: the kernel reads the msghdr, the one iovec (at most `data.len()` bytes of
    // `data`) and `msg_controllen` bytes of `control`, all live for the call.
    let r = unsafe {
        arch::syscall3_readonly(nr(k::__NR_sendmsg), sock, ptr, n::MSG_NOSIGNAL as usize)
    };
    Errno::result(r)
}

/// Receives data into `buf` and up to `max_fds` descriptors (`recvmsg`, `SCM_RIGHTS`), each
/// close-on-exec and pushed onto `fds`. See [`Received`] for how truncation is reported.
///
/// # Errors
/// The kernel's error: `EAGAIN` (non-blocking, nothing queued), `EINTR`, `ENOTSOCK`, ...
/// Any descriptor received is owned before an error can be returned, so none leaks.
///
/// ```
/// use barepoll::sys::{self, AsFd, Errno, SocketType};
/// let (_a, b) = sys::socketpair(SocketType::Stream, sys::SOCK_NONBLOCK)?;
/// let mut fds = Vec::new();
/// assert_eq!(sys::recv_fds(b.as_fd(), &mut [0; 4], &mut fds, 1), Err(Errno::EAGAIN));
/// # Ok::<(), Errno>(())
/// ```
pub fn recv_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
    max_fds: usize,
) -> Result<Received, Errno> {
    let mut control = [0u64; CONTROL_WORDS];
    let room = space(max_fds.min(MAX_FDS_PER_MESSAGE));
    let mut iov = k::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len() as _,
    };
    let mut msg = n::msghdr {
        msg_name: core::ptr::null_mut(),
        msg_namelen: 0,
        msg_iov: core::ptr::addr_of_mut!(iov).cast(),
        msg_iovlen: 1,
        msg_control: control.as_mut_ptr().cast(),
        msg_controllen: room,
        msg_flags: 0,
    };
    let (sock, ptr) = (
        sock.as_raw_fd() as usize,
        core::ptr::addr_of_mut!(msg) as usize,
    );
    let flags = n::MSG_CMSG_CLOEXEC as usize;
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, at most `room` bytes
    // (within `control`) of ancillary data, and updates `msg`; all are ours to write.
    let r = unsafe { arch::syscall3(nr(k::__NR_recvmsg), sock, ptr, flags) };
    let len = Errno::result(r)?;
    let used = msg.msg_controllen.min(room);
    let received = take_fds(&words_as_bytes(&mut control)[..used]);
    let fds_truncated = msg.msg_flags & n::MSG_CTRUNC != 0 || received.lost;
    if !fds_truncated {
        fds.try_reserve(received.len()).map_err(|_| Errno::ENOMEM)?;
        fds.extend(received);
    }
    // Truncated: `received` drops here, closing what came.
    Ok(Received {
        len,
        data_truncated: msg.msg_flags & n::MSG_TRUNC != 0,
        fds_truncated,
    })
}

fn words_as_bytes(words: &mut [u64; CONTROL_WORDS]) -> &mut [u8] {
    // SAFETY: the array's bytes are initialised integers; u8 has no alignment or validity
    // requirement; the borrow of `words` covers the returned slice.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), CONTROL_WORDS * 8) }
}

/// Every descriptor of every `SCM_RIGHTS` message in `control`, owned. Each header is
/// checked against the bytes there; a malformed one ends the walk.
fn take_fds(control: &[u8]) -> FdBatch {
    let mut batch = FdBatch::default();
    let mut at = 0;
    while let Some(header) = control.get(at..at + HEADER) {
        let len = usize::from_ne_bytes(header[..8].try_into().unwrap_or([0; 8]));
        let level = i32::from_ne_bytes(header[8..12].try_into().unwrap_or([0; 4]));
        let kind = i32::from_ne_bytes(header[12..16].try_into().unwrap_or([0; 4]));
        let Some(data) = len
            .checked_sub(HEADER)
            .and_then(|n| control.get(at + HEADER..at + HEADER + n))
        else {
            break;
        };
        if level == n::SOL_SOCKET as i32 && kind == n::SCM_RIGHTS as i32 {
            for raw in data.chunks_exact(4) {
                let fd = i32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
                if fd >= 0 {
                    // A descriptor that arrived on 0..=2 and could not be moved above them is
                    // closed by `owned`: the set is then reported truncated.
                    match owned(fd as usize) {
                        Ok(fd) => batch.push(fd),
                        Err(_) => batch.lost = true,
                    }
                }
            }
        }
        match (len + 7) / 8 * 8 {
            0 => break,
            step => at += step,
        }
    }
    batch
}

/// The descriptors of one message, owned on the stack until handed over (or dropped,
/// closing them).
struct FdBatch {
    fds: [Option<OwnedFd>; MAX_FDS_PER_MESSAGE],
    len: usize,
    /// A descriptor of the message could not be kept.
    lost: bool,
}

impl Default for FdBatch {
    fn default() -> FdBatch {
        FdBatch {
            fds: core::array::from_fn(|_| None),
            len: 0,
            lost: false,
        }
    }
}

impl FdBatch {
    fn push(&mut self, fd: OwnedFd) {
        // More than a message can carry cannot come; were it to, the extra is closed.
        if let Some(slot) = self.fds.get_mut(self.len) {
            *slot = Some(fd);
            self.len += 1;
        }
    }

    fn len(&self) -> usize {
        self.len
    }
}

impl IntoIterator for FdBatch {
    type Item = OwnedFd;
    type IntoIter =
        core::iter::Flatten<core::array::IntoIter<Option<OwnedFd>, MAX_FDS_PER_MESSAGE>>;
    fn into_iter(self) -> Self::IntoIter {
        self.fds.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{is_cloexec, pipe, read, socketpair, write, AsFd, SocketType};

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no Unix sockets")]
    fn descriptors_arrive_owned_and_close_on_exec() {
        let (a, b) = socketpair(SocketType::Stream, 0).unwrap();
        let (r, w) = pipe(0).unwrap();
        let efd = crate::sys::eventfd(5, 0).unwrap();
        assert_eq!(
            send_fds(a.as_fd(), b"xyz", &[w.as_fd(), efd.as_fd(), r.as_fd()]),
            Ok(3)
        );
        let mut fds = Vec::new();
        let mut buf = [0u8; 8];
        let got = recv_fds(b.as_fd(), &mut buf, &mut fds, 8).unwrap();
        assert_eq!(
            got,
            Received {
                len: 3,
                data_truncated: false,
                fds_truncated: false
            }
        );
        assert_eq!(fds.len(), 3);
        for fd in &fds {
            assert_eq!(is_cloexec(fd.as_fd()), Ok(true));
        }
        assert_eq!(write(fds[0].as_fd(), b"p"), Ok(1));
        assert_eq!(read(fds[2].as_fd(), &mut buf), Ok(1), "the same pipe");
        let mut count = [0u8; 8];
        assert_eq!(read(fds[1].as_fd(), &mut count), Ok(8));
        assert_eq!(u64::from_ne_bytes(count), 5, "the same eventfd");
        // Data alone: no descriptors.
        assert_eq!(send_fds(a.as_fd(), b"q", &[]), Ok(1));
        assert_eq!(recv_fds(b.as_fd(), &mut buf, &mut fds, 8).unwrap().len, 1);
        assert_eq!(fds.len(), 3);
        let too_many = [a.as_fd(); MAX_FDS_PER_MESSAGE + 1];
        assert_eq!(send_fds(a.as_fd(), b"x", &too_many), Err(Errno::EINVAL));
    }

    /// Three copies of a pipe's write end sent, room for fewer: the message is reported
    /// truncated, and every copy that came is closed: with the sender's dropped too, the
    /// read end sees end of file.
    #[test]
    #[cfg_attr(miri, ignore = "Miri has no Unix sockets")]
    fn a_truncated_set_is_closed_and_reported() {
        // qemu-user translates ancillary data itself and reports no MSG_CTRUNC; it is told
        // apart by the kernel's architecture, which it does not hide.
        let kernel = std::fs::read_to_string("/proc/sys/kernel/arch").unwrap_or_default();
        if !kernel.is_empty() && kernel.trim() != std::env::consts::ARCH {
            return std::println!("skipped: emulated (qemu-user does not report MSG_CTRUNC)");
        }
        let (a, b) = socketpair(SocketType::Datagram, 0).unwrap();
        let (r, w) = pipe(0).unwrap();
        let three = [w.as_fd(), w.as_fd(), w.as_fd()];
        assert_eq!(send_fds(a.as_fd(), b"long datagram", &three), Ok(13));
        drop(w);
        let mut fds = Vec::new();
        let mut small = [0u8; 4];
        let got = recv_fds(b.as_fd(), &mut small, &mut fds, 1).unwrap();
        assert_eq!(
            got,
            Received {
                len: 4,
                data_truncated: true,
                fds_truncated: true
            }
        );
        assert!(fds.is_empty());
        assert_eq!(
            read(r.as_fd(), &mut small),
            Ok(0),
            "a write end is still open"
        );
    }

    #[test]
    fn malformed_control_data_ends_the_walk() {
        let mut control = [0u8; 64];
        // A header claiming more than there is.
        control[..8].copy_from_slice(&1000usize.to_ne_bytes());
        assert_eq!(take_fds(&control).len(), 0);
        // A length shorter than the header.
        control[..8].copy_from_slice(&3usize.to_ne_bytes());
        assert_eq!(take_fds(&control).len(), 0);
        assert_eq!(take_fds(&control[..10]).len(), 0);
    }
}
