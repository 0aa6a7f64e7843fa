//! Copies of descriptors and their flags: `dup` (close-on-exec, through
//! `F_DUPFD_CLOEXEC`), `dup3` onto a descriptor the caller owns, and the non-blocking and
//! close-on-exec flags (`fcntl`). Owns no descriptor table state beyond these calls.

use super::fd::AsRawFd;
use super::{arch, k, nr, owned, BorrowedFd, Errno, OwnedFd, RawFd};

fn fcntl(fd: BorrowedFd<'_>, cmd: u32, arg: usize) -> Result<usize, Errno> {
    // SAFETY: the fcntl commands used here (F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL,
    // F_SETFL) take integers, no pointers.
    let r = unsafe {
        arch::syscall3(
            nr(k::__NR_fcntl),
            fd.as_raw_fd() as usize,
            cmd as usize,
            arg,
        )
    };
    Errno::result(r)
}

/// A new descriptor for the file `fd` names, close-on-exec, with the lowest free number.
///
/// # Errors
/// The kernel's error (`EMFILE`, `EBADF`).
///
/// ```
/// use barepoll::sys::{self, AsFd, AsRawFd};
/// let (r, w) = sys::pipe(0)?;
/// let w2 = sys::dup(w.as_fd())?;
/// assert_ne!(w2.as_raw_fd(), w.as_raw_fd());
/// sys::write(w2.as_fd(), b"x")?;
/// assert_eq!(sys::read(r.as_fd(), &mut [0; 1])?, 1);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    dup_at_least(fd, 0)
}

/// A new descriptor for the file `fd` names, close-on-exec, numbered `min` or above (the
/// lowest free one).
///
/// # Errors
/// The kernel's error (`EMFILE`, `EINVAL` for a negative `min` or one past the limit).
///
/// ```
/// use barepoll::sys::{self, AsFd, AsRawFd};
/// let (_r, w) = sys::pipe(0)?;
/// assert!(sys::dup_at_least(w.as_fd(), 100)?.as_raw_fd() >= 100);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn dup_at_least(fd: BorrowedFd<'_>, min: RawFd) -> Result<OwnedFd, Errno> {
    if min < 0 {
        return Err(Errno::EINVAL);
    }
    fcntl(fd, k::F_DUPFD_CLOEXEC, min as usize).and_then(owned)
}

/// Makes `target`, which the caller owns, name the file `fd` names (`dup3`, close-on-exec);
/// the file it named before is closed, its number stays. To give a program started with
/// [`Command`](super::Command) a descriptor at a chosen number, use
/// [`Command::move_fd`](super::Command::move_fd).
///
/// # Errors
/// The kernel's error (`EBADF`, `EINVAL` when both are the same descriptor, `EBUSY` in a
/// race with `open`).
///
/// ```
/// use barepoll::sys::{self, AsFd};
/// let (r1, _w1) = sys::pipe(0)?;
/// let (_r2, w2) = sys::pipe(0)?;
/// let mut target = sys::eventfd(0, 0)?;
/// sys::dup3(w2.as_fd(), &mut target)?; // `target` is now a write end of the second pipe
/// assert_eq!(sys::write(target.as_fd(), b"x")?, 1);
/// # drop(r1);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn dup3(fd: BorrowedFd<'_>, target: &mut OwnedFd) -> Result<(), Errno> {
    super::replace(target, fd)
}

/// Turns the file's non-blocking mode (`O_NONBLOCK`, `F_SETFL`) on or off. The mode
/// belongs to the open file, so every descriptor for it (dups, a child's) sees it.
///
/// # Errors
/// The kernel's error (`EBADF`).
///
/// ```
/// use barepoll::sys::{self, AsFd, Errno};
/// let (r, _w) = sys::pipe(0)?;
/// sys::set_nonblocking(r.as_fd(), true)?;
/// assert_eq!(sys::read(r.as_fd(), &mut [0; 1]), Err(Errno::EAGAIN));
/// assert!(sys::is_nonblocking(r.as_fd())?);
/// # Ok::<(), Errno>(())
/// ```
pub fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> Result<(), Errno> {
    let flags = fcntl(fd, k::F_GETFL, 0)? as u32;
    let new = if on {
        flags | k::O_NONBLOCK
    } else {
        flags & !k::O_NONBLOCK
    };
    if new != flags {
        fcntl(fd, k::F_SETFL, new as usize)?;
    }
    Ok(())
}

/// Whether the file is in non-blocking mode.
///
/// # Errors
/// The kernel's error (`EBADF`).
///
/// ```
/// use barepoll::sys::{self, AsFd};
/// let (r, _w) = sys::pipe(sys::O_NONBLOCK)?;
/// assert!(sys::is_nonblocking(r.as_fd())?);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn is_nonblocking(fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    Ok(fcntl(fd, k::F_GETFL, 0)? as u32 & k::O_NONBLOCK != 0)
}

/// Sets or clears the descriptor's close-on-exec flag (`FD_CLOEXEC`). Every descriptor
/// barepoll makes has it; clearing it lets every program this process starts inherit the
/// descriptor, so prefer [`Command::move_fd`](super::Command::move_fd), which hands one
/// child one descriptor.
///
/// # Errors
/// The kernel's error (`EBADF`).
///
/// ```
/// use barepoll::sys::{self, AsFd};
/// let efd = sys::eventfd(0, 0)?;
/// assert!(sys::is_cloexec(efd.as_fd())?);
/// sys::set_cloexec(efd.as_fd(), false)?;
/// assert!(!sys::is_cloexec(efd.as_fd())?);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> Result<(), Errno> {
    let flags = fcntl(fd, k::F_GETFD, 0)? as u32;
    let new = if on {
        flags | k::FD_CLOEXEC
    } else {
        flags & !k::FD_CLOEXEC
    };
    if new != flags {
        fcntl(fd, k::F_SETFD, new as usize)?;
    }
    Ok(())
}

/// Whether the descriptor is close-on-exec.
///
/// # Errors
/// The kernel's error (`EBADF`).
///
/// ```
/// use barepoll::sys::{self, AsFd};
/// assert!(!sys::is_cloexec(sys::stdout())?); // the standard streams are inherited
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn is_cloexec(fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    Ok(fcntl(fd, k::F_GETFD, 0)? as u32 & k::FD_CLOEXEC != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{pipe, read, write, AsFd};

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no fcntl here")]
    fn copies_share_the_file_and_are_close_on_exec() {
        let (r, w) = pipe(0).unwrap();
        let copy = dup(w.as_fd()).unwrap();
        let high = dup_at_least(w.as_fd(), 200).unwrap();
        assert!(high.as_raw_fd() >= 200);
        for fd in [&copy, &high] {
            assert_eq!(is_cloexec(fd.as_fd()), Ok(true));
        }
        // The mode belongs to the file: set through one, seen through the others.
        set_nonblocking(high.as_fd(), true).unwrap();
        assert_eq!(is_nonblocking(w.as_fd()), Ok(true));
        set_nonblocking(copy.as_fd(), false).unwrap();
        assert_eq!(is_nonblocking(high.as_fd()), Ok(false));
        // The flag belongs to the descriptor.
        set_cloexec(copy.as_fd(), false).unwrap();
        assert_eq!(is_cloexec(copy.as_fd()), Ok(false));
        assert_eq!(is_cloexec(high.as_fd()), Ok(true));
        assert_eq!(write(copy.as_fd(), b"a"), Ok(1));
        assert_eq!(write(high.as_fd(), b"b"), Ok(1));
        let mut buf = [0u8; 2];
        assert_eq!(read(r.as_fd(), &mut buf), Ok(2));
        assert_eq!(&buf, b"ab");
        assert_eq!(dup_at_least(w.as_fd(), -1).map(drop), Err(Errno::EINVAL));
        set_nonblocking(r.as_fd(), true).unwrap();
        let mut target = crate::sys::eventfd(0, 0).unwrap();
        let number = target.as_raw_fd();
        dup3(r.as_fd(), &mut target).unwrap();
        assert_eq!(target.as_raw_fd(), number);
        assert_eq!(is_cloexec(target.as_fd()), Ok(true));
        assert_eq!(
            read(target.as_fd(), &mut buf),
            Err(Errno::EAGAIN),
            "now the read end"
        );
    }
}
