//! Files: `openat` with a small [`OpenFlags`], `fstat` (size, mode, kind), and `getrandom`.
//! Paths are byte strings (no NUL inside), copied with their terminating NUL onto the stack:
//! nothing here allocates. Every descriptor is close-on-exec.

use super::fd::AsRawFd;
use super::{arch, k, nr, owned, BorrowedFd, Errno, OwnedFd};
use core::mem::MaybeUninit;
use core::ops::BitOr;

/// The kernel's limit on a path, terminating NUL included (`PATH_MAX`).
const PATH_MAX: usize = 4096;

/// How [`openat`] opens a file: an access mode and options, combined with `|`.
/// `O_CLOEXEC` is always added.
///
/// ```
/// use barepoll::sys::OpenFlags;
/// let create = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
/// # let _ = create;
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OpenFlags(u32);

impl OpenFlags {
    /// Read only (`O_RDONLY`).
    pub const READ: OpenFlags = OpenFlags(k::O_RDONLY);
    /// Write only (`O_WRONLY`).
    pub const WRITE: OpenFlags = OpenFlags(k::O_WRONLY);
    /// Read and write (`O_RDWR`).
    pub const READ_WRITE: OpenFlags = OpenFlags(k::O_RDWR);
    /// Create the file if it does not exist (`O_CREAT`; `mode` applies).
    pub const CREATE: OpenFlags = OpenFlags(k::O_CREAT);
    /// With `CREATE`: fail with `EEXIST` if it exists (`O_EXCL`).
    pub const EXCLUSIVE: OpenFlags = OpenFlags(k::O_EXCL);
    /// Cut a regular file to length 0 (`O_TRUNC`).
    pub const TRUNCATE: OpenFlags = OpenFlags(k::O_TRUNC);
    /// Every write goes to the end (`O_APPEND`).
    pub const APPEND: OpenFlags = OpenFlags(k::O_APPEND);
    /// Reads and writes never block (`O_NONBLOCK`).
    pub const NONBLOCK: OpenFlags = OpenFlags(k::O_NONBLOCK);
    /// Fail with `ENOTDIR` unless it is a directory (`O_DIRECTORY`).
    pub const DIRECTORY: OpenFlags = OpenFlags(k::O_DIRECTORY);
    /// Fail with `ELOOP` if the last component is a symbolic link (`O_NOFOLLOW`).
    pub const NOFOLLOW: OpenFlags = OpenFlags(k::O_NOFOLLOW);
}

impl BitOr for OpenFlags {
    type Output = OpenFlags;
    fn bitor(self, other: OpenFlags) -> OpenFlags {
        OpenFlags(self.0 | other.0)
    }
}

/// Copies `path` and a NUL onto the stack.
fn c_path(path: &[u8], buf: &mut [u8; PATH_MAX]) -> Result<(), Errno> {
    if path.contains(&0) {
        return Err(Errno::EINVAL);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    buf[..path.len()].copy_from_slice(path);
    buf[path.len()] = 0;
    Ok(())
}

/// Opens `path` (`openat`): relative to the directory `dir`, or to the working directory
/// with `None`; an absolute path ignores `dir`. `mode` is the new file's permissions with
/// [`OpenFlags::CREATE`] (less the umask), ignored otherwise. Always close-on-exec.
///
/// # Errors
/// The kernel's error (`ENOENT`, `EACCES`, `EEXIST`, `ENOTDIR`, `ELOOP`, `EISDIR`,
/// `EMFILE`, ...); `EINVAL` for a path with a NUL byte, `ENAMETOOLONG` for one of 4096 bytes
/// or more.
///
/// ```
/// use barepoll::sys::{self, AsFd, OpenFlags};
/// let f = sys::openat(None, b"/proc/self/stat", OpenFlags::READ, 0)?;
/// let mut buf = [0u8; 64];
/// assert!(sys::read(f.as_fd(), &mut buf)? > 0);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn openat(
    dir: Option<BorrowedFd<'_>>,
    path: &[u8],
    flags: OpenFlags,
    mode: u32,
) -> Result<OwnedFd, Errno> {
    let mut buf = [0u8; PATH_MAX];
    c_path(path, &mut buf)?;
    let dir = dir.map_or(k::AT_FDCWD, |d| d.as_raw_fd()) as isize as usize;
    let flags = (flags.0 | k::O_CLOEXEC) as usize;
    let ptr = buf.as_ptr() as usize;
    // SAFETY: the kernel reads a NUL-terminated path from `buf`; openat takes no other
    // pointer.
    let r = unsafe { arch::syscall4_readonly(nr(k::__NR_openat), dir, ptr, flags, mode as usize) };
    Errno::result(r).and_then(owned)
}

/// What kind of file a descriptor names.
///
/// ```
/// use barepoll::sys::{self, AsFd, FileKind};
/// let (r, _w) = sys::pipe(0)?;
/// assert_eq!(sys::fstat(r.as_fd())?.kind, FileKind::Fifo);
/// # Ok::<(), sys::Errno>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (seen only through `O_PATH | O_NOFOLLOW` descriptors).
    Symlink,
    /// A character device (a terminal, `/dev/null`).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A pipe or FIFO.
    Fifo,
    /// A socket.
    Socket,
    /// Anything else (an eventfd, an epoll instance, a timerfd, ...).
    Other,
}

/// What [`fstat`] reports.
///
/// ```
/// use barepoll::sys::{self, AsFd, OpenFlags};
/// let f = sys::openat(None, b"/proc/self/exe", OpenFlags::READ, 0)?;
/// let st = sys::fstat(f.as_fd())?;
/// assert!(st.size > 0 && st.mode & 0o100 != 0);
/// # Ok::<(), sys::Errno>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Stat {
    /// The size in bytes (of a regular file; other kinds say what their kind does).
    pub size: u64,
    /// The permission bits and set-id/sticky bits (`mode & 0o7777`).
    pub mode: u32,
    /// The kind of file.
    pub kind: FileKind,
}

/// Size, permissions and kind of the file `fd` names (`fstat`).
///
/// # Errors
/// The kernel's error (`EBADF`, `EOVERFLOW` cannot happen on 64-bit).
///
/// ```
/// use barepoll::sys::{self, AsFd, FileKind};
/// let efd = sys::eventfd(0, 0)?;
/// assert_eq!(sys::fstat(efd.as_fd())?.kind, FileKind::Other);
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn fstat(fd: BorrowedFd<'_>) -> Result<Stat, Errno> {
    let mut st = MaybeUninit::<k::stat>::uninit();
    let ptr = st.as_mut_ptr() as usize;
    // SAFETY: the kernel writes one `struct stat` (this arch's layout) into `st`.
    let r = unsafe { arch::syscall2(nr(k::__NR_fstat), fd.as_raw_fd() as usize, ptr) };
    Errno::result(r)?;
    // SAFETY: the call succeeded, so the kernel filled the whole struct; every field is an
    // integer, for which any bytes are valid.
    let st = unsafe { st.assume_init() };
    let mode: u32 = st.st_mode;
    let kind = match mode & k::S_IFMT {
        k::S_IFREG => FileKind::File,
        k::S_IFDIR => FileKind::Directory,
        k::S_IFLNK => FileKind::Symlink,
        k::S_IFCHR => FileKind::CharDevice,
        k::S_IFBLK => FileKind::BlockDevice,
        k::S_IFIFO => FileKind::Fifo,
        k::S_IFSOCK => FileKind::Socket,
        _ => FileKind::Other,
    };
    Ok(Stat {
        size: st.st_size as u64,
        mode: mode & 0o7777,
        kind,
    })
}

/// Fills `buf` with random bytes from the kernel (`getrandom`); returns how many. Blocks
/// until the kernel's pool is first initialised, unless `nonblocking` (then `EAGAIN`
/// until it is). Requests up to 256 bytes are filled whole once the pool is ready; a larger
/// one may be cut short by a signal.
///
/// # Errors
/// The kernel's error: `EAGAIN` (not yet initialised, `nonblocking`), `EINTR`, `ENOSYS`
/// (before Linux 3.17).
///
/// ```
/// let mut key = [0u8; 32];
/// assert_eq!(barepoll::sys::getrandom(&mut key, false)?, 32);
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
pub fn getrandom(buf: &mut [u8], nonblocking: bool) -> Result<usize, Errno> {
    let flags = if nonblocking { k::GRND_NONBLOCK } else { 0 } as usize;
    let (ptr, len) = (buf.as_mut_ptr() as usize, buf.len());
    // SAFETY: the kernel writes at most `len` bytes into `buf`, which is ours to write.
    let r = unsafe { arch::syscall3(nr(k::__NR_getrandom), ptr, len, flags) };
    Errno::result(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{read, write, AsFd};

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no openat here")]
    fn open_create_write_stat_reopen() {
        let dir = std::env::temp_dir().join(std::format!("barepoll-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let dir_path = dir.to_str().unwrap().as_bytes();
        let d = openat(None, dir_path, OpenFlags::READ | OpenFlags::DIRECTORY, 0).unwrap();
        assert_eq!(fstat(d.as_fd()).unwrap().kind, FileKind::Directory);
        let new = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE;
        let f = openat(Some(d.as_fd()), b"a", new, 0o640).unwrap();
        assert_eq!(write(f.as_fd(), b"hello"), Ok(5));
        let st = fstat(f.as_fd()).unwrap();
        assert_eq!((st.size, st.kind), (5, FileKind::File));
        assert_eq!(st.mode & 0o077 & !0o640, 0, "no bits beyond the mode asked");
        assert_eq!(
            openat(Some(d.as_fd()), b"a", new, 0o640).map(drop),
            Err(Errno::EEXIST)
        );
        let again = openat(Some(d.as_fd()), b"a", OpenFlags::READ, 0).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(read(again.as_fd(), &mut buf), Ok(5));
        let flags =
            std::fs::read_to_string(std::format!("/proc/self/fdinfo/{}", again.as_raw_fd()))
                .unwrap();
        let flags = flags.lines().find(|l| l.starts_with("flags:")).unwrap();
        let octal = u32::from_str_radix(flags.split_whitespace().nth(1).unwrap(), 8).unwrap();
        assert_ne!(octal & k::O_CLOEXEC, 0, "{flags}");
        assert_eq!(
            openat(
                Some(d.as_fd()),
                b"a",
                OpenFlags::READ | OpenFlags::DIRECTORY,
                0
            )
            .map(drop),
            Err(Errno::ENOTDIR)
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            openat(None, b"a\0b", OpenFlags::READ, 0).map(drop),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            openat(None, &[b'a'; PATH_MAX], OpenFlags::READ, 0).map(drop),
            Err(Errno::ENAMETOOLONG)
        );
        let (r, _w) = crate::sys::pipe(0).unwrap();
        assert_eq!(fstat(r.as_fd()).unwrap().kind, FileKind::Fifo);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no getrandom syscall here")]
    fn random_bytes_differ() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        assert_eq!(getrandom(&mut a, false), Ok(32));
        assert_eq!(getrandom(&mut b, true), Ok(32));
        assert_ne!(a, b, "two 256-bit draws were equal");
        assert_eq!(getrandom(&mut [], false), Ok(0));
    }
}
