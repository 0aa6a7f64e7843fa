//! File-descriptor ownership types.
//!
//! With the `std` feature these are std's own `OwnedFd`, `BorrowedFd` and `AsFd`, re-exported,
//! so sockets and files from std register directly. Without it they are this module's small
//! look-alikes with the same names and methods, which keeps the `std` feature additive.

#[cfg(feature = "std")]
pub use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

#[cfg(not(feature = "std"))]
pub use self::own::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

#[cfg(not(feature = "std"))]
mod own {
    use core::fmt;
    use core::marker::PhantomData;

    /// A raw file descriptor number.
    pub type RawFd = i32;

    /// An owned file descriptor, closed on drop (the close is never retried).
    #[repr(transparent)]
    pub struct OwnedFd {
        fd: RawFd,
    }

    /// A borrowed file descriptor, valid for `'a`.
    #[derive(Clone, Copy)]
    #[repr(transparent)]
    pub struct BorrowedFd<'a> {
        fd: RawFd,
        _owner: PhantomData<&'a OwnedFd>,
    }

    /// Borrows a file descriptor from its owner.
    pub trait AsFd {
        /// Borrows the file descriptor.
        fn as_fd(&self) -> BorrowedFd<'_>;
    }

    /// Reads the raw number of a file descriptor.
    pub trait AsRawFd {
        /// The raw file descriptor number.
        fn as_raw_fd(&self) -> RawFd;
    }

    /// Takes ownership of a raw file descriptor.
    pub trait FromRawFd {
        /// # Safety
        /// `fd` must be open and owned by nobody else.
        unsafe fn from_raw_fd(fd: RawFd) -> Self;
    }

    /// Gives up ownership of a file descriptor without closing it.
    pub trait IntoRawFd {
        /// Returns the raw number; the caller now owns the descriptor.
        fn into_raw_fd(self) -> RawFd;
    }

    impl BorrowedFd<'_> {
        /// # Safety
        /// `fd` must stay open for the returned lifetime, and must not be `-1`.
        ///
        /// ```
        /// use barepoll::sys::{self, AsRawFd, BorrowedFd};
        /// let efd = sys::eventfd(0, 0)?;
        /// // SAFETY: `efd` outlives the borrow.
        /// let fd = unsafe { BorrowedFd::borrow_raw(efd.as_raw_fd()) };
        /// assert_eq!(fd.as_raw_fd(), efd.as_raw_fd());
        /// # Ok::<(), sys::Errno>(())
        /// ```
        pub const unsafe fn borrow_raw(fd: RawFd) -> Self {
            BorrowedFd {
                fd,
                _owner: PhantomData,
            }
        }
    }

    impl Drop for OwnedFd {
        fn drop(&mut self) {
            // SAFETY: this value owns `fd`; nothing uses the number after this point.
            unsafe { crate::sys::close(self.fd) }
        }
    }

    impl FromRawFd for OwnedFd {
        unsafe fn from_raw_fd(fd: RawFd) -> Self {
            debug_assert!(fd >= 0);
            OwnedFd { fd }
        }
    }

    impl IntoRawFd for OwnedFd {
        fn into_raw_fd(self) -> RawFd {
            let fd = self.fd;
            core::mem::forget(self);
            fd
        }
    }

    impl AsRawFd for OwnedFd {
        fn as_raw_fd(&self) -> RawFd {
            self.fd
        }
    }

    impl AsRawFd for BorrowedFd<'_> {
        fn as_raw_fd(&self) -> RawFd {
            self.fd
        }
    }

    impl AsFd for OwnedFd {
        fn as_fd(&self) -> BorrowedFd<'_> {
            BorrowedFd {
                fd: self.fd,
                _owner: PhantomData,
            }
        }
    }

    impl AsFd for BorrowedFd<'_> {
        fn as_fd(&self) -> BorrowedFd<'_> {
            *self
        }
    }

    impl<T: AsFd + ?Sized> AsFd for &T {
        fn as_fd(&self) -> BorrowedFd<'_> {
            (**self).as_fd()
        }
    }

    impl<T: AsFd + ?Sized> AsFd for &mut T {
        fn as_fd(&self) -> BorrowedFd<'_> {
            (**self).as_fd()
        }
    }

    impl<T: AsFd + ?Sized> AsFd for alloc::boxed::Box<T> {
        fn as_fd(&self) -> BorrowedFd<'_> {
            (**self).as_fd()
        }
    }

    impl<T: AsFd + ?Sized> AsFd for alloc::rc::Rc<T> {
        fn as_fd(&self) -> BorrowedFd<'_> {
            (**self).as_fd()
        }
    }

    impl<T: AsFd + ?Sized> AsFd for alloc::sync::Arc<T> {
        fn as_fd(&self) -> BorrowedFd<'_> {
            (**self).as_fd()
        }
    }

    impl fmt::Debug for OwnedFd {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("OwnedFd").field("fd", &self.fd).finish()
        }
    }

    impl fmt::Debug for BorrowedFd<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("BorrowedFd").field("fd", &self.fd).finish()
        }
    }
}
