//! File-system change notification: `inotify_init1` (close-on-exec), `inotify_add_watch`,
//! `inotify_rm_watch`, and [`InotifyEvents`], a parser over the bytes a read of the
//! descriptor returned. The parser checks every length against the buffer: a short or odd
//! buffer ends the iteration, never a read past it.

use super::fd::AsRawFd;
use super::{arch, k, nr, owned, BorrowedFd, Errno, OwnedFd};

/// `inotify_init1` flag: reads never block (they fail with [`Errno::EAGAIN`]).
pub const IN_NONBLOCK: u32 = k::IN_NONBLOCK;
/// Event: a file was modified.
pub const IN_MODIFY: u32 = k::IN_MODIFY;
/// Event: metadata changed.
pub const IN_ATTRIB: u32 = k::IN_ATTRIB;
/// Event: a file opened for writing was closed.
pub const IN_CLOSE_WRITE: u32 = k::IN_CLOSE_WRITE;
/// Event: a file was moved out of the watched directory.
pub const IN_MOVED_FROM: u32 = k::IN_MOVED_FROM;
/// Event: a file was moved into the watched directory.
pub const IN_MOVED_TO: u32 = k::IN_MOVED_TO;
/// Event: a file was created in the watched directory.
pub const IN_CREATE: u32 = k::IN_CREATE;
/// Event: a file was deleted from the watched directory.
pub const IN_DELETE: u32 = k::IN_DELETE;
/// Event: the watched file or directory itself was deleted.
pub const IN_DELETE_SELF: u32 = k::IN_DELETE_SELF;
/// Event: the watched file or directory itself was moved.
pub const IN_MOVE_SELF: u32 = k::IN_MOVE_SELF;
/// Reported: events were lost (the queue overflowed).
pub const IN_Q_OVERFLOW: u32 = k::IN_Q_OVERFLOW;
/// Reported: the watch was removed (by `inotify_rm_watch` or because its file is gone).
pub const IN_IGNORED: u32 = k::IN_IGNORED;
/// Reported: the event's subject is a directory.
pub const IN_ISDIR: u32 = k::IN_ISDIR;

/// A watch, as [`inotify_add_watch`] returns it and events name it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Watch(i32);

impl Watch {
    /// The kernel's number for the watch.
    ///
    /// ```
    /// use barepoll::sys::{self, AsFd};
    /// let fd = sys::inotify_init1(0)?;
    /// let w = sys::inotify_add_watch(fd.as_fd(), b"/tmp", sys::IN_CREATE)?;
    /// assert!(w.raw() >= 1);
    /// # Ok::<(), sys::Errno>(())
    /// ```
    pub const fn raw(self) -> i32 {
        self.0
    }
}

/// Creates an inotify instance; `flags` may hold [`IN_NONBLOCK`]. Always close-on-exec. It
/// is readable when events are queued; read them into a buffer and walk it with
/// [`InotifyEvents`].
///
/// # Errors
/// The kernel's error (`EMFILE` also when the per-user instance limit is reached, `ENFILE`,
/// `ENOMEM`, `EINVAL` for unknown flags).
///
/// ```
/// let fd = barepoll::sys::inotify_init1(barepoll::sys::IN_NONBLOCK)?;
/// # drop(fd);
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
pub fn inotify_init1(flags: u32) -> Result<OwnedFd, Errno> {
    let flags = (flags | k::IN_CLOEXEC) as usize;
    // SAFETY: inotify_init1 takes no pointers.
    let r = unsafe { arch::syscall1(nr(k::__NR_inotify_init1), flags) };
    Errno::result(r).and_then(owned)
}

/// Watches `path` for the events in `mask` (`IN_CREATE | IN_DELETE`, ...); a path watched
/// already gets the new mask and the same [`Watch`].
///
/// # Errors
/// The kernel's error (`ENOENT`, `EACCES`, `ENOSPC` at the per-user watch limit, `EINVAL`
/// for an empty mask); `EINVAL` for a path with a NUL byte, `ENAMETOOLONG` for one of 4096
/// bytes or more.
///
/// ```
/// use barepoll::sys::{self, AsFd, Errno};
/// let fd = sys::inotify_init1(0)?;
/// assert_eq!(sys::inotify_add_watch(fd.as_fd(), b"/nonexistent", sys::IN_CREATE), Err(Errno::ENOENT));
/// # Ok::<(), Errno>(())
/// ```
pub fn inotify_add_watch(fd: BorrowedFd<'_>, path: &[u8], mask: u32) -> Result<Watch, Errno> {
    let mut buf = [0u8; 4096];
    if path.contains(&0) {
        return Err(Errno::EINVAL);
    }
    if path.len() >= buf.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    buf[..path.len()].copy_from_slice(path);
    let (fd, ptr) = (fd.as_raw_fd() as usize, buf.as_ptr() as usize);
    // SAFETY: the kernel reads a NUL-terminated path from `buf`.
    let r =
        unsafe { arch::syscall3_readonly(nr(k::__NR_inotify_add_watch), fd, ptr, mask as usize) };
    let wd = Errno::result(r)?;
    i32::try_from(wd).map(Watch).map_err(|_| Errno::EINVAL)
}

/// Removes a watch; an [`IN_IGNORED`] event for it follows.
///
/// # Errors
/// The kernel's error (`EINVAL` for a watch that is not (or no longer) one of `fd`'s).
///
/// ```
/// use barepoll::sys::{self, AsFd, Errno};
/// let fd = sys::inotify_init1(0)?;
/// let w = sys::inotify_add_watch(fd.as_fd(), b"/tmp", sys::IN_CREATE)?;
/// sys::inotify_rm_watch(fd.as_fd(), w)?;
/// assert_eq!(sys::inotify_rm_watch(fd.as_fd(), w), Err(Errno::EINVAL));
/// # Ok::<(), Errno>(())
/// ```
pub fn inotify_rm_watch(fd: BorrowedFd<'_>, watch: Watch) -> Result<(), Errno> {
    let (fd, wd) = (fd.as_raw_fd() as usize, watch.0 as usize);
    // SAFETY: inotify_rm_watch takes no pointers.
    let r = unsafe { arch::syscall2(nr(k::__NR_inotify_rm_watch), fd, wd) };
    Errno::result(r).map(drop)
}

/// One event.
///
/// ```
/// use barepoll::sys::{InotifyEvent, InotifyEvents, IN_CREATE};
/// let mut record = Vec::new();
/// for word in [1i32, IN_CREATE as i32, 0, 8] {
///     record.extend_from_slice(&word.to_ne_bytes());
/// }
/// record.extend_from_slice(b"new\0\0\0\0\0");
/// let ev: InotifyEvent<'_> = InotifyEvents::new(&record).next().unwrap();
/// assert_eq!((ev.watch.raw(), ev.mask, ev.name), (1, IN_CREATE, &b"new"[..]));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct InotifyEvent<'a> {
    /// The watch it is for (-1 for [`IN_Q_OVERFLOW`]).
    pub watch: Watch,
    /// What happened (`IN_*` bits).
    pub mask: u32,
    /// Pairs an [`IN_MOVED_FROM`] with its [`IN_MOVED_TO`] (0 otherwise).
    pub cookie: u32,
    /// The name in the watched directory, without its NUL padding (empty for an event on
    /// the watched path itself).
    pub name: &'a [u8],
}

/// The events in the bytes one read of an inotify descriptor returned.
///
/// ```
/// use barepoll::sys::InotifyEvents;
/// assert_eq!(InotifyEvents::new(&[0u8; 7]).count(), 0); // shorter than one header
/// ```
#[derive(Clone, Debug)]
pub struct InotifyEvents<'a> {
    rest: &'a [u8],
}

impl<'a> InotifyEvents<'a> {
    /// Walks `buf` (the bytes read, not the whole buffer read into).
    ///
    /// ```
    /// assert!(barepoll::sys::InotifyEvents::new(&[]).next().is_none());
    /// ```
    pub fn new(buf: &'a [u8]) -> InotifyEvents<'a> {
        InotifyEvents { rest: buf }
    }
}

const EVENT_HEADER: usize = 16;

impl<'a> Iterator for InotifyEvents<'a> {
    type Item = InotifyEvent<'a>;

    fn next(&mut self) -> Option<InotifyEvent<'a>> {
        let header = self.rest.get(..EVENT_HEADER)?;
        let word = |i: usize| [header[i], header[i + 1], header[i + 2], header[i + 3]];
        let len = u32::from_ne_bytes(word(12)) as usize;
        let Some(name) = self.rest.get(EVENT_HEADER..EVENT_HEADER.checked_add(len)?) else {
            // A record cut short: nothing after it can be trusted.
            self.rest = &[];
            return None;
        };
        let event = InotifyEvent {
            watch: Watch(i32::from_ne_bytes(word(0))),
            mask: u32::from_ne_bytes(word(4)),
            cookie: u32::from_ne_bytes(word(8)),
            name: &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())],
        };
        self.rest = &self.rest[EVENT_HEADER + len..];
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{read, AsFd};
    use alloc::vec::Vec;

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no inotify")]
    fn a_watched_directory_reports_creation_and_deletion() {
        let dir =
            std::env::temp_dir().join(std::format!("barepoll-inotify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let fd = inotify_init1(IN_NONBLOCK).unwrap();
        let mut buf = [0u8; 4096];
        assert_eq!(read(fd.as_fd(), &mut buf), Err(Errno::EAGAIN));
        let path = dir.to_str().unwrap().as_bytes();
        let watch = inotify_add_watch(fd.as_fd(), path, IN_CREATE | IN_DELETE).unwrap();
        std::fs::write(dir.join("file"), b"x").unwrap();
        std::fs::remove_file(dir.join("file")).unwrap();
        inotify_rm_watch(fd.as_fd(), watch).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let n = read(fd.as_fd(), &mut buf).unwrap();
        let events: Vec<_> = InotifyEvents::new(&buf[..n])
            .map(|e| (e.watch, e.mask, e.name))
            .collect();
        assert_eq!(
            events,
            [
                (watch, IN_CREATE, &b"file"[..]),
                (watch, IN_DELETE, &b"file"[..]),
                (watch, IN_IGNORED, &b""[..]),
            ]
        );
    }

    #[test]
    fn odd_buffers_end_the_walk() {
        let mut record = Vec::new();
        for word in [3i32, IN_DELETE as i32, 0, 4] {
            record.extend_from_slice(&word.to_ne_bytes());
        }
        record.extend_from_slice(b"ab\0\0");
        // Whole, then cut at every length: never a record past the end.
        assert_eq!(InotifyEvents::new(&record).count(), 1);
        for cut in 0..record.len() {
            assert_eq!(InotifyEvents::new(&record[..cut]).count(), 0, "{cut}");
        }
        // A length that would run past the end, after a good record.
        let mut two = record.clone();
        two.extend_from_slice(&record[..12]);
        two.extend_from_slice(&u32::MAX.to_ne_bytes());
        let mut events = InotifyEvents::new(&two);
        assert_eq!(events.next().map(|e| e.name), Some(&b"ab"[..]));
        assert_eq!(events.next(), None);
    }
}
