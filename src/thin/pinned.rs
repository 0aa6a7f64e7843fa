//! A future pinned in place beside an unpinned companion: the projection a future combinator
//! (`task::Timeout`, a future and its sleep; `task::Within`, a future and a sleep it borrows)
//! needs without a box. It may not hand out the future unpinned.

use core::pin::Pin;

/// A future `F`, pinned wherever the pair is, beside a companion `S` that is `Unpin`: the
/// layout of [`task::Timeout`](crate::task::Timeout) and [`task::Within`](crate::task::Within),
/// which name it.
#[must_use = "futures do nothing unless awaited"]
pub struct Pinned<F, S> {
    /// Never moved once pinned: reached only through `project`, and the pair has no `Drop`
    /// (so no destructor of its own can move it) and is `Unpin` only if `F` is.
    future: F,
    companion: S,
}

impl<F, S: Unpin> Pinned<F, S> {
    pub(crate) fn new(future: F, companion: S) -> Self {
        Pinned { future, companion }
    }

    /// The pinned future, and the companion by plain reference.
    pub(crate) fn project(self: Pin<&mut Self>) -> (Pin<&mut F>, &mut S) {
        // SAFETY: nothing is moved out: `future` is only ever reached pinned (here), and the
        // companion is `Unpin`, so handing it out by `&mut` pins nothing.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this` is pinned (it came from `Pin<&mut Self>`), so its field `future` stays
        // where it is until it is dropped in place with the pair.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        (future, &mut this.companion)
    }

    /// The companion.
    pub(crate) fn companion(&self) -> &S {
        &self.companion
    }
}
