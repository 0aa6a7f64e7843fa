//! Process attributes set with `prctl` that a supervisor or a container's init needs: being
//! the child subreaper (orphaned descendants are re-parented here, not to init) and the
//! signal sent when the parent dies. Owns these calls only.

use super::{arch, k, nr, Errno, Signal};

const PR_SET_PDEATHSIG: usize = 1;
const PR_GET_PDEATHSIG: usize = 2;
const PR_SET_CHILD_SUBREAPER: usize = 36;
const PR_GET_CHILD_SUBREAPER: usize = 37;

fn prctl(option: usize, arg: usize) -> Result<usize, Errno> {
    // SAFETY: the SET options used here take integers; the GET options write one int at
    // `arg`, which their callers point at an int of their own.
    let r = unsafe { arch::syscall5(nr(k::__NR_prctl), option, arg, 0, 0, 0) };
    Errno::result(r)
}

/// Makes the calling process a child subreaper (or stops it being one): descendants
/// orphaned by their parent's exit become its children, so it can wait for them
/// (`PR_SET_CHILD_SUBREAPER`).
///
/// # Errors
/// The kernel's error (`EINVAL` before Linux 3.4).
///
/// ```
/// use barepoll::sys::{self, Errno};
/// match sys::set_child_subreaper(true) {
///     Ok(()) => assert!(sys::is_child_subreaper()?),
///     // Linux before 3.4, or an emulator that passes on only the options it knows.
///     Err(e) => assert_eq!(e, Errno::EINVAL),
/// }
/// # Ok::<(), Errno>(())
/// ```
pub fn set_child_subreaper(on: bool) -> Result<(), Errno> {
    prctl(PR_SET_CHILD_SUBREAPER, usize::from(on)).map(drop)
}

/// Whether the calling process is a child subreaper.
///
/// # Errors
/// The kernel's error (`EINVAL` before Linux 3.4).
///
/// ```
/// if let Ok(on) = barepoll::sys::is_child_subreaper() {
///     assert!(!on); // a process starts as none
/// }
/// ```
pub fn is_child_subreaper() -> Result<bool, Errno> {
    let mut on = 0i32;
    prctl(PR_GET_CHILD_SUBREAPER, core::ptr::addr_of_mut!(on) as usize)?;
    Ok(on != 0)
}

/// The signal the calling process gets when its parent exits (`PR_SET_PDEATHSIG`); `None`
/// clears it. Cleared in a fork's child and by `execve` of a set-id program; strictly, it
/// follows the parent *thread*.
///
/// # Errors
/// The kernel's error (`EINVAL`).
///
/// ```
/// use barepoll::sys::{self, Signal};
/// sys::set_pdeathsig(Some(Signal::TERM))?;
/// assert_eq!(sys::pdeathsig()?, Some(Signal::TERM));
/// sys::set_pdeathsig(None)?;
/// # Ok::<(), sys::Errno>(())
/// ```
pub fn set_pdeathsig(signal: Option<Signal>) -> Result<(), Errno> {
    prctl(PR_SET_PDEATHSIG, signal.map_or(0, Signal::raw) as usize).map(drop)
}

/// The signal set with [`set_pdeathsig`], if any.
///
/// # Errors
/// The kernel's error (`EINVAL`); `EINVAL` for a number that is no signal.
///
/// ```
/// assert_eq!(barepoll::sys::pdeathsig()?, None);
/// # Ok::<(), barepoll::sys::Errno>(())
/// ```
pub fn pdeathsig() -> Result<Option<Signal>, Errno> {
    let mut signo = 0i32;
    prctl(PR_GET_PDEATHSIG, core::ptr::addr_of_mut!(signo) as usize)?;
    match signo {
        0 => Ok(None),
        n => Signal::from_raw(n as u32).map(Some).ok_or(Errno::EINVAL),
    }
}
