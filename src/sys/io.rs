//! Descriptors a program needs without libc: eventfd, pipe, read, write, splice, close.

use super::fd::AsRawFd;
#[cfg(not(feature = "std"))]
use super::RawFd;
use super::{arch, k, nr, owned, BorrowedFd, Errno, OwnedFd};

/// `eventfd` flag: reads and writes never block (they fail with [`Errno::EAGAIN`]).
pub const EFD_NONBLOCK: u32 = k::EFD_NONBLOCK;
/// `eventfd` flag: each read takes 1 from the counter instead of draining it.
pub const EFD_SEMAPHORE: u32 = k::EFD_SEMAPHORE;
/// `pipe` flag: reads and writes never block (they fail with [`Errno::EAGAIN`]).
pub const O_NONBLOCK: u32 = k::O_NONBLOCK;
/// [`splice`] flag: the pipe's side never blocks (a socket's side follows its own
/// `O_NONBLOCK`); a full or empty pipe is [`Errno::EAGAIN`].
pub const SPLICE_F_NONBLOCK: u32 = k::SPLICE_F_NONBLOCK;
/// [`splice`] flag: move pages rather than copy them where the kernel can (a hint).
pub const SPLICE_F_MOVE: u32 = k::SPLICE_F_MOVE;

/// Closes `fd`, ignoring the result; `close` is never retried (the number may already be reused).
///
/// # Safety
/// The caller owns `fd` and never uses the number again.
#[cfg(not(feature = "std"))]
pub(crate) unsafe fn close(fd: RawFd) {
    // SAFETY: close takes no pointers; the caller gives up ownership of `fd`.
    let _ = unsafe { arch::syscall1(nr(k::__NR_close), fd as usize) };
}

/// Makes `target` (which the caller owns) name the file `fd` names, close-on-exec; the file
/// `target` named before is closed. The number of `target` stays the same.
pub(crate) fn replace(target: &mut OwnedFd, fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let (old, new) = (fd.as_raw_fd() as usize, target.as_raw_fd() as usize);
    // SAFETY: dup3 takes no pointers; `target` is ours, so replacing what it names is ours to
    // do, and it goes on owning the number.
    let raw = unsafe { arch::syscall3(nr(k::__NR_dup3), old, new, k::O_CLOEXEC as usize) };
    Errno::result(raw).map(drop)
}

/// Creates an eventfd with counter `initval`; `flags` may hold [`EFD_NONBLOCK`] and
/// [`EFD_SEMAPHORE`]. The descriptor is always close-on-exec.
///
/// # Errors
/// The kernel's error (`EMFILE`, `ENFILE`, `ENOMEM`, `EINVAL` for unknown flags).
///
/// ```
/// use barepoll::sys::{self, AsFd};
/// let efd = sys::eventfd(2, sys::EFD_NONBLOCK)?;
/// let mut buf = [0u8; 8];
/// sys::read(efd.as_fd(), &mut buf)?;
/// assert_eq!(u64::from_ne_bytes(buf), 2);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn eventfd(initval: u32, flags: u32) -> Result<OwnedFd, Errno> {
    let flags = (flags | k::EFD_CLOEXEC) as usize;
    // SAFETY: eventfd2 takes no pointers.
    let raw = unsafe { arch::syscall2(nr(k::__NR_eventfd2), initval as usize, flags) };
    Errno::result(raw).and_then(owned)
}

/// Creates a pipe and returns `(read end, write end)`; `flags` may hold [`O_NONBLOCK`]. Both
/// ends are close-on-exec.
///
/// # Errors
/// The kernel's error (`EMFILE`, `ENFILE`).
///
/// ```
/// use barepoll::sys::{self, AsFd};
/// let (r, w) = sys::pipe(sys::O_NONBLOCK)?;
/// sys::write(w.as_fd(), b"hi")?;
/// let mut buf = [0u8; 2];
/// assert_eq!(sys::read(r.as_fd(), &mut buf)?, 2);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn pipe(flags: u32) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0i32; 2];
    let flags = (flags | k::O_CLOEXEC) as usize;
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    let raw = unsafe { arch::syscall2(nr(k::__NR_pipe2), fds.as_mut_ptr() as usize, flags) };
    Errno::result(raw)?;
    // Both owned before either error is returned, so neither end leaks.
    let (r, w) = (owned(fds[0] as usize), owned(fds[1] as usize));
    Ok((r?, w?))
}

/// Reads into `buf`; returns the number of bytes read (0 at end of file).
///
/// # Errors
/// The kernel's error: `EAGAIN` when a non-blocking fd has nothing, `EINTR`, `EBADF`, ...
///
/// ```
/// use barepoll::sys::{self, AsFd, Errno};
/// let (r, _w) = sys::pipe(sys::O_NONBLOCK)?;
/// assert_eq!(sys::read(r.as_fd(), &mut [0; 4]), Err(Errno::EAGAIN));
/// # Ok::<(), Errno>(())
/// ```
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    let (ptr, len) = (buf.as_mut_ptr() as usize, buf.len());
    // SAFETY: the kernel writes at most `len` bytes into `buf`, which is ours to write.
    let raw = unsafe { arch::syscall3(nr(k::__NR_read), fd.as_raw_fd() as usize, ptr, len) };
    Errno::result(raw)
}

/// The process's standard input, descriptor 0.
///
/// Borrowed for the whole life of the process. That is sound because no safe code can close
/// 0, 1 or 2, and none of this crate's descriptors ever takes one of those numbers: a process
/// started with one of them closed (which the kernel allows) gets its epoll set, eventfds,
/// sockets, ... moved to 3 and up, so the number stays free rather than naming something of
/// the crate's. A read or write through a closed standard stream then fails with `EBADF`.
/// std's runtime, and this crate's `rt` entry, open `/dev/null` on any of 0..=2 missing at
/// start. (A program that closes one with unsafe code must not call these afterwards.)
///
/// ```
/// use barepoll::sys::{self, AsRawFd};
/// assert_eq!(sys::stdin().as_raw_fd(), 0);
/// ```
pub fn stdin() -> BorrowedFd<'static> {
    // SAFETY: descriptor 0 is open for the life of the process (above).
    unsafe { BorrowedFd::borrow_raw(0) }
}

/// The process's standard output, descriptor 1 (see [`stdin`]).
///
/// ```
/// use barepoll::sys;
/// sys::write(sys::stdout(), b"hello from barepoll\n")?;
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn stdout() -> BorrowedFd<'static> {
    // SAFETY: as for `stdin`: descriptor 1 stays open for the life of the process.
    unsafe { BorrowedFd::borrow_raw(1) }
}

/// The process's standard error, descriptor 2 (see [`stdin`]).
///
/// ```
/// use barepoll::sys;
/// sys::write(sys::stderr(), b"a diagnostic\n")?;
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn stderr() -> BorrowedFd<'static> {
    // SAFETY: as for `stdin`: descriptor 2 stays open for the life of the process.
    unsafe { BorrowedFd::borrow_raw(2) }
}

/// Writes from `buf`; returns the number of bytes written.
///
/// # Errors
/// The kernel's error: `EAGAIN` when a non-blocking fd is full, `EPIPE` (the process ignores
/// or handles `SIGPIPE`), `EINTR`, `EBADF`, ...
///
/// ```
/// use barepoll::sys::{self, AsFd};
/// let efd = sys::eventfd(0, 0)?;
/// assert_eq!(sys::write(efd.as_fd(), &1u64.to_ne_bytes())?, 8);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize, Errno> {
    let (ptr, len) = (buf.as_ptr() as usize, buf.len());
    let fd = fd.as_raw_fd() as usize;
    // SAFETY: the kernel reads at most `len` bytes from `buf`, which stays borrowed meanwhile.
    let raw = unsafe { arch::syscall3_readonly(nr(k::__NR_write), fd, ptr, len) };
    Errno::result(raw)
}
/// Moves up to `len` bytes from `from` to `to` inside the kernel, without copying them through
/// this process (`splice(2)`, at each file's own position); one of the two must be a pipe.
/// Returns how many bytes moved: 0 at `from`'s end of file. A proxy moves a socket's bytes
/// into a pipe and from the pipe into the other socket.
///
/// # Errors
/// The kernel's error: `EAGAIN` when a non-blocking side has no bytes or no room (the pipe's
/// side with [`SPLICE_F_NONBLOCK`]), `EINVAL` when neither is a pipe or a side cannot
/// splice, `EPIPE`, `EINTR`, `EBADF`, ...
///
/// ```
/// use barepoll::sys::{self, AsFd, Errno};
/// let (a, to_a) = sys::pipe(sys::O_NONBLOCK)?;
/// let (b, to_b) = sys::pipe(sys::O_NONBLOCK)?;
/// sys::write(to_a.as_fd(), b"hi")?;
/// let flags = sys::SPLICE_F_NONBLOCK | sys::SPLICE_F_MOVE;
/// assert_eq!(sys::splice(a.as_fd(), to_b.as_fd(), 64, flags)?, 2);
/// assert_eq!(sys::splice(a.as_fd(), to_b.as_fd(), 64, flags), Err(Errno::EAGAIN));
/// let mut buf = [0u8; 2];
/// assert_eq!(sys::read(b.as_fd(), &mut buf)?, 2);
/// assert_eq!(&buf, b"hi");
/// drop(to_a);
/// assert_eq!(sys::splice(a.as_fd(), to_b.as_fd(), 64, flags)?, 0); // end of file
/// # Ok::<(), Errno>(())
/// ```
pub fn splice(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    len: usize,
    flags: u32,
) -> Result<usize, Errno> {
    let (from, to) = (from.as_raw_fd() as usize, to.as_raw_fd() as usize);
    // SAFETY: both offsets are null, so the kernel reads and writes no memory of ours; it only
    // acts on the two descriptors, which stay borrowed meanwhile.
    let raw = unsafe { arch::syscall6(nr(k::__NR_splice), from, 0, to, 0, len, flags as usize) };
    Errno::result(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::AsFd;

    #[test]
    fn eventfd_and_pipe_round_trip() {
        let efd = eventfd(0, EFD_NONBLOCK).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(read(efd.as_fd(), &mut buf), Err(Errno::EAGAIN));
        assert_eq!(write(efd.as_fd(), &3u64.to_ne_bytes()), Ok(8));
        assert_eq!(read(efd.as_fd(), &mut buf), Ok(8));
        assert_eq!(u64::from_ne_bytes(buf), 3);

        let (r, w) = pipe(O_NONBLOCK).unwrap();
        assert_eq!(write(w.as_fd(), b"abc"), Ok(3));
        assert_eq!(read(r.as_fd(), &mut buf), Ok(3));
        assert_eq!(&buf[..3], b"abc");
        drop(w);
        assert_eq!(read(r.as_fd(), &mut buf), Ok(0));
        // An eventfd takes 8-byte writes only.
        assert_eq!(write(efd.as_fd(), b"x"), Err(Errno::EINVAL));
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no splice")]
    fn splice_moves_a_sockets_bytes_through_a_pipe_into_another_socket() {
        use crate::sys::{socketpair, SocketType, SOCK_NONBLOCK};
        use alloc::vec::Vec;
        let flags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE;
        let (src, src_peer) = socketpair(SocketType::Stream, SOCK_NONBLOCK).unwrap();
        let (dst, dst_peer) = socketpair(SocketType::Stream, SOCK_NONBLOCK).unwrap();
        let (r, w) = pipe(O_NONBLOCK).unwrap();
        // Nothing in the socket yet: EAGAIN, not end of file.
        assert_eq!(
            splice(src.as_fd(), w.as_fd(), 4096, flags),
            Err(Errno::EAGAIN)
        );
        let sent: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut written = 0;
        let mut moved = Vec::new();
        while moved.len() < sent.len() {
            if written < sent.len() {
                written += write(src_peer.as_fd(), &sent[written..]).unwrap_or(0);
            }
            let _ = splice(src.as_fd(), w.as_fd(), 1 << 16, flags);
            let _ = splice(r.as_fd(), dst.as_fd(), 1 << 16, flags);
            let mut buf = [0u8; 8192];
            if let Ok(n) = read(dst_peer.as_fd(), &mut buf) {
                moved.extend_from_slice(&buf[..n]);
            }
        }
        assert!(moved == sent, "bytes differ");
        // The source's end of file: 0.
        drop(src_peer);
        assert_eq!(splice(src.as_fd(), w.as_fd(), 4096, flags), Ok(0));
        // Neither side a pipe: refused.
        assert_eq!(
            splice(src.as_fd(), dst.as_fd(), 4096, flags),
            Err(Errno::EINVAL)
        );
    }
}
