//! The reactor's side of its tasks: spawning on it and running turns until a task is done (the
//! executor itself is `task`'s).

use super::Reactor;
use crate::error::Result;
use crate::task::{executor, JoinHandle, Spawner};
use crate::threads::Local;
use core::future::Future;

impl<D> Reactor<D, Local> {
    /// A [`Spawner`] for this reactor's tasks (the first makes its executor: one eventfd).
    ///
    /// # Errors
    /// As [`spawn`](Reactor::spawn).
    ///
    /// ```
    /// let mut reactor = barepoll::Reactor::new()?;
    /// let spawner = reactor.spawner()?;
    /// let handle = spawner.spawn(async { 3 })?;
    /// assert_eq!(reactor.block_on(handle)?, Ok(3));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn spawner(&mut self) -> Result<Spawner> {
        self.registry_mut().check_owner()?;
        executor(self.registry_mut())
    }

    /// Spawns `future` as a task on this reactor: polled by its turns, on its thread. The first
    /// spawn makes the executor (one eventfd, registered as the reactor's own).
    ///
    /// # Errors
    /// [`Error::Inherited`](crate::Error::Inherited) after `fork()`; the kernel's error from `eventfd2` or from
    /// registering it, or `ENOMEM`, for the first spawn; `ENOMEM` if memory for the task
    /// cannot be had. The future is dropped on error.
    ///
    /// ```
    /// let mut reactor = barepoll::Reactor::new()?;
    /// let handle = reactor.spawn(async { "hi" })?;
    /// reactor.run_once(None)?;
    /// assert_eq!(handle.try_take(), Some(Ok("hi")));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn spawn<F>(&mut self, future: F) -> Result<JoinHandle<F::Output>>
    where
        F: Future + 'static,
    {
        self.spawner()?.spawn(future)
    }

    /// Runs turns ([`run_once_with`](Reactor::run_once_with), lending `data`) until the task
    /// of `handle` is done, and gives its result.
    ///
    /// # Errors
    /// The outer `Err` is a turn's error ([`run_once`](Reactor::run_once)); the inner one the
    /// task's ([`JoinHandle`]).
    ///
    /// ```
    /// let mut reactor = barepoll::Reactor::builder().state::<u32>().build()?;
    /// let handle = reactor.spawn(async { 5 })?;
    /// assert_eq!(reactor.block_on_with(handle, &mut 0)?, Ok(5));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn block_on_with<O>(&mut self, handle: JoinHandle<O>, data: &mut D) -> Result<Result<O>> {
        loop {
            if let Some(result) = handle.try_take() {
                return Ok(result);
            }
            self.run_once_with(None, data)?;
        }
    }
}

impl Reactor<(), Local> {
    /// [`block_on_with`](Reactor::block_on_with) for a reactor with no state.
    ///
    /// # Errors
    /// As [`block_on_with`](Reactor::block_on_with).
    ///
    /// ```
    /// let mut reactor = barepoll::Reactor::new()?;
    /// let handle = reactor.spawn(async { 5 })?;
    /// assert_eq!(reactor.block_on(handle)?, Ok(5));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn block_on<O>(&mut self, handle: JoinHandle<O>) -> Result<Result<O>> {
        self.block_on_with(handle, &mut ())
    }
}
