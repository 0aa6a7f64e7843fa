//! `Errno`: the kernel's error number, decoded from a raw syscall return in one place.

use core::fmt;

/// An error number returned by the kernel (`EPERM`, `EINTR`, …).
///
/// Small and `Copy`. Under the `std` feature it converts into `std::io::Error`, which then
/// carries the same raw OS error code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(u16);

macro_rules! errnos {
    ($($name:ident: $text:literal),* $(,)?) => {
        impl Errno {
            $(
                #[doc = $text]
                pub const $name: Errno = Errno(linux_raw_sys::errno::$name as u16);
            )*

            fn describe(self) -> Option<(&'static str, &'static str)> {
                match self {
                    $(Errno::$name => Some((stringify!($name), $text)),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    EPERM: "operation not permitted",
    ENOENT: "no such file or directory",
    EINTR: "interrupted system call",
    EIO: "input/output error",
    E2BIG: "argument list too long",
    ENOEXEC: "exec format error",
    EBADF: "bad file descriptor",
    ECHILD: "no child processes",
    EAGAIN: "resource temporarily unavailable",
    ENOMEM: "cannot allocate memory",
    EACCES: "permission denied",
    EFAULT: "bad address",
    EEXIST: "file exists",
    ENODEV: "no such device",
    ENOTDIR: "not a directory",
    EISDIR: "is a directory",
    EINVAL: "invalid argument",
    ENFILE: "too many open files in system",
    EMFILE: "too many open files",
    ENOTTY: "inappropriate ioctl for device",
    ENOSPC: "no space left on device",
    EPIPE: "broken pipe",
    ENAMETOOLONG: "file name too long",
    ELOOP: "too many levels of symbolic links",
    ENOSYS: "function not implemented",
    ECONNRESET: "connection reset by peer",
    ENOTSOCK: "socket operation on non-socket",
    ESRCH: "no such process",
    EOPNOTSUPP: "operation not supported",
    ENOPROTOOPT: "protocol not available",
    ENETUNREACH: "network is unreachable",
    ECONNABORTED: "software caused connection abort",
    EAFNOSUPPORT: "address family not supported by protocol",
    EADDRINUSE: "address already in use",
    EADDRNOTAVAIL: "cannot assign requested address",
    ECONNREFUSED: "connection refused",
    EINPROGRESS: "operation now in progress",
    EMSGSIZE: "message too long",
    EISCONN: "transport endpoint is already connected",
    ENOTCONN: "transport endpoint is not connected",
    ETIMEDOUT: "connection timed out",
}

impl Errno {
    /// Decodes a raw syscall return: values in `-4095..=-1` are `-errno`, anything else is a
    /// success value. This is the only place that decoding happens.
    #[inline(always)]
    pub(crate) fn result(raw: usize) -> Result<usize, Errno> {
        if raw > (-4096isize) as usize {
            Err(Errno(raw.wrapping_neg() as u16))
        } else {
            Ok(raw)
        }
    }

    /// The raw error number, as `errno` would hold it.
    ///
    /// ```
    /// assert_eq!(barepoll::sys::Errno::EAGAIN.raw(), 11);
    /// ```
    pub const fn raw(self) -> i32 {
        self.0 as i32
    }

    /// Builds an `Errno` from a raw error number (`1..=4095`); other values give `None`.
    ///
    /// ```
    /// use barepoll::sys::Errno;
    /// assert_eq!(Errno::from_raw(4), Some(Errno::EINTR));
    /// assert_eq!(Errno::from_raw(0), None);
    /// ```
    pub const fn from_raw(raw: i32) -> Option<Errno> {
        if raw >= 1 && raw <= 4095 {
            Some(Errno(raw as u16))
        } else {
            None
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.describe() {
            Some((name, _)) => write!(f, "Errno({name})"),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.describe() {
            Some((name, text)) => write!(f, "{text} ({name})"),
            None => write!(f, "errno {}", self.0),
        }
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl std::error::Error for Errno {}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> Self {
        std::io::Error::from_raw_os_error(e.raw())
    }
}

#[cfg(test)]
mod tests {
    use super::Errno;

    #[test]
    fn decodes_the_kernel_error_range_only() {
        assert_eq!(Errno::result(0), Ok(0));
        assert_eq!(Errno::result(7), Ok(7));
        assert_eq!(
            Errno::result((-4096isize) as usize),
            Ok((-4096isize) as usize)
        );
        assert_eq!(Errno::result((-4095isize) as usize), Err(Errno(4095)));
        assert_eq!(Errno::result(-4isize as usize), Err(Errno::EINTR));
        assert_eq!(Errno::result(usize::MAX), Err(Errno::EPERM));
    }

    #[test]
    fn displays_name_and_text() {
        extern crate alloc;
        use alloc::format;
        assert_eq!(
            format!("{}", Errno::EPERM),
            "operation not permitted (EPERM)"
        );
        assert_eq!(format!("{:?}", Errno::EINTR), "Errno(EINTR)");
        assert_eq!(format!("{}", Errno::from_raw(200).unwrap()), "errno 200");
        assert_eq!(Errno::from_raw(0), None);
        assert_eq!(Errno::from_raw(4096), None);
    }
}
