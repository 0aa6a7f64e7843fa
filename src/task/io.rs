//! `Async<F>`: an fd as futures, for tasks. It owns the fd's readiness as its node's handler
//! records it, and the wakers of the tasks waiting to read and of those waiting to write. It may
//! not call `epoll_ctl` per await: the fd is registered once, edge-triggered for reading and
//! writing, by the turn after it is made (a task cannot reach the registry), and deleted by the
//! turn after it is dropped.
//!
//! Readiness starts set: the first operation tries the syscall at once. One that sees `EAGAIN`
//! clears the flag and parks its waker; the node's handler sets it again on the next edge and
//! wakes every task parked in that direction (several tasks may await one source: each one
//! that finds the fd still not ready parks again). A waker is listed once however many of its
//! task's futures park it (as far as `Waker::will_wake` tells; never more than once per
//! future), and leaves the list when the last of them completes or is dropped,
//! or when an edge wakes it. If there is no memory to list a waker, its task is woken at once
//! instead and retries on its next poll, so no wake is lost. Once its reactor is gone, every
//! operation gives `Error::Closed`, and a task (of another reactor) waiting on it is woken to
//! see it.

use super::waiters::{Parked, Waiters};
use super::Spawner;
use crate::error::{Error, Result};
use crate::interest::{self, Event};
use crate::key::Key;
use crate::ops::Ops;
use crate::subscriber::Subscriber;
use crate::sys::{self, AsFd, AsRawFd, BorrowedFd, Errno, OwnedFd, SocketAddr};
use crate::thin::{Executor, Registry, TaskIo};
use crate::threads::Threads;
use alloc::rc::Rc;
use core::cell::{Cell, RefCell};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// An fd registered once with its reactor for tasks to await: [`readable`](Async::readable),
/// [`writable`](Async::writable), [`read`](Async::read), [`write`](Async::write),
/// [`accept`](Async::accept). Not `Send`; dropping it deletes the registration (by the next
/// turn) and closes the fd once that is done.
///
/// ```
/// use barepoll::{sys, task::Async, Reactor};
///
/// let mut reactor = Reactor::new()?;
/// let spawner = reactor.spawner()?;
/// let (r, w) = sys::pipe(0)?;
/// let (r, w) = (Async::new(&spawner, r)?, Async::new(&spawner, w)?);
/// let reader = spawner.spawn(async move {
///     let mut buf = [0u8; 5];
///     let n = r.read(&mut buf).await.unwrap();
///     buf[..n].to_vec()
/// })?;
/// drop(spawner.spawn(async move { w.write(b"hello").await.unwrap() })?);
/// assert_eq!(reactor.block_on(reader)?, Ok(b"hello".to_vec()));
/// # Ok::<(), barepoll::Error>(())
/// ```
pub struct Async<F: AsFd + 'static> {
    source: Rc<Source<F>>,
    executor: Rc<RefCell<Executor>>,
}

/// The fd and its readiness, shared by the handle and its node.
struct Source<F> {
    io: F,
    key: Cell<Option<Key>>,
    /// The registration was refused: every operation reports it.
    error: Cell<Option<Error>>,
    /// The handle was dropped before the registration was made: it is not made.
    dropped: Cell<bool>,
    readable: Cell<bool>,
    writable: Cell<bool>,
    /// A stream socket: a short read took all it held, so readiness is cleared after one
    /// (the next edge sets it), saving a read that would give `EAGAIN`; read and written
    /// with `recv` and `send` (no `SIGPIPE`, and no file-layer work).
    stream: bool,
    /// The peer shut its writing half (or the fd failed): reads end at once, never wait.
    read_closed: Cell<bool>,
    readers: RefCell<Waiters>,
    writers: RefCell<Waiters>,
}

impl<F> Source<F> {
    fn waiters(&self, write: bool) -> &RefCell<Waiters> {
        if write {
            &self.writers
        } else {
            &self.readers
        }
    }
}

/// Wakes every waiter of one direction (none is woken while the list is borrowed). The check
/// is inlined: the common edge finds no task waiting in its direction.
#[inline]
fn wake_all(waiters: &RefCell<Waiters>) {
    if !waiters.borrow().is_empty() {
        wake_listed(waiters);
    }
}

#[inline(never)]
fn wake_listed(waiters: &RefCell<Waiters>) {
    let woken = waiters.borrow_mut().take();
    woken.wake();
}

impl<F: AsFd> TaskIo for Source<F> {
    fn fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }

    fn dropped(&self) -> bool {
        self.dropped.get()
    }

    fn registered(&self, result: Result<Key>) {
        match result {
            Ok(key) => self.key.set(Some(key)),
            Err(e) => {
                self.error.set(Some(e));
                self.ready(Event::readable());
                self.ready(Event::writable());
            }
        }
    }

    fn closed(&self) {
        if self.error.get().is_none() {
            self.error.set(Some(Error::Closed));
        }
        self.ready(Event::readable());
        self.ready(Event::writable());
    }

    fn ready(&self, event: Event) {
        let failed = event.is_error() || event.is_hangup();
        if event.is_read_closed() || failed {
            self.read_closed.set(true);
        }
        if event.is_readable() || event.is_read_closed() || failed {
            self.readable.set(true);
            wake_all(&self.readers);
        }
        if event.is_writable() || failed {
            self.writable.set(true);
            wake_all(&self.writers);
        }
    }
}

impl<F: AsFd + 'static> Async<F> {
    /// Puts `io` in non-blocking mode and has the spawner's reactor register it (edge-triggered,
    /// for reading and writing) before its next wait.
    ///
    /// # Errors
    /// The kernel's error from `fcntl` (`EBADF`); [`Error::Closed`] once the reactor is gone;
    /// `ENOMEM`. A refused registration (for example `EPERM` for a regular file) is reported
    /// by the operations that follow.
    ///
    /// ```
    /// let mut reactor = barepoll::Reactor::new()?;
    /// let efd = barepoll::task::Async::new(&reactor.spawner()?, barepoll::sys::eventfd(0, 0)?)?;
    /// # drop(efd);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn new(spawner: &Spawner, io: F) -> Result<Async<F>> {
        sys::set_nonblocking(io.as_fd(), true)?;
        // Not a socket, or a query refused: readiness is kept after short reads (always safe).
        let stream = matches!(
            sys::socket_type(io.as_fd()),
            Ok(Some(sys::SocketType::Stream))
        );
        let source = Rc::new(Source {
            io,
            key: Cell::new(None),
            error: Cell::new(None),
            dropped: Cell::new(false),
            readable: Cell::new(true),
            writable: Cell::new(true),
            stream,
            read_closed: Cell::new(false),
            readers: RefCell::new(Waiters::new()),
            writers: RefCell::new(Waiters::new()),
        });
        let mut executor = spawner.executor.borrow_mut();
        if executor.closed {
            return Err(Error::Closed);
        }
        let oom = |_| Error::Os(Errno::ENOMEM);
        executor.io_add.try_reserve(1).map_err(oom)?;
        executor.io_delete.try_reserve(1).map_err(oom)?;
        executor.io_add.push(source.clone());
        drop(executor);
        Ok(Async {
            source,
            executor: spawner.executor.clone(),
        })
    }

    /// The fd's owner.
    ///
    /// ```
    /// use barepoll::sys::{self, AsFd};
    /// let mut reactor = barepoll::Reactor::new()?;
    /// let efd = barepoll::task::Async::new(&reactor.spawner()?, sys::eventfd(0, 0)?)?;
    /// assert!(sys::AsRawFd::as_raw_fd(&efd.get_ref().as_fd()) >= 0);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn get_ref(&self) -> &F {
        &self.source.io
    }

    /// Waits until the fd is (or may be) readable: at once unless an operation saw `EAGAIN`
    /// since the last edge.
    ///
    /// # Errors
    /// The error that refused the registration; [`Error::Closed`] once the reactor is gone.
    ///
    /// ```
    /// use barepoll::{sys, task::Async, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let efd = Async::new(&reactor.spawner()?, sys::eventfd(1, 0)?)?;
    /// let ready = reactor.spawn(async move { efd.readable().await })?;
    /// assert_eq!(reactor.block_on(ready)?, Ok(Ok(())));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn readable(&self) -> Readiness<'_, F> {
        Readiness {
            source: &self.source,
            write: false,
            parked: None,
        }
    }

    /// Waits until the fd is (or may be) writable; see [`readable`](Async::readable).
    ///
    /// # Errors
    /// The error that refused the registration; [`Error::Closed`] once the reactor is gone.
    ///
    /// ```
    /// use barepoll::{sys, task::Async, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let efd = Async::new(&reactor.spawner()?, sys::eventfd(0, 0)?)?;
    /// let ready = reactor.spawn(async move { efd.writable().await })?;
    /// assert_eq!(reactor.block_on(ready)?, Ok(Ok(())));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub fn writable(&self) -> Readiness<'_, F> {
        Readiness {
            source: &self.source,
            write: true,
            parked: None,
        }
    }

    /// Runs `op` on the fd until it does not fail with `EAGAIN`, waiting for readability
    /// before each try (an `EAGAIN` clears it; `EINTR` tries again).
    ///
    /// # Errors
    /// `op`'s error, as [`Error::Os`], or the error that refused the registration, or
    /// [`Error::Closed`] once the reactor is gone.
    ///
    /// ```
    /// use barepoll::{sys, sys::AsFd, task::Async, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let efd = Async::new(&reactor.spawner()?, sys::eventfd(3, 0)?)?;
    /// let got = reactor.spawn(async move {
    ///     let mut buf = [0u8; 8];
    ///     efd.read_with(|fd| sys::read(fd.as_fd(), &mut buf)).await.unwrap();
    ///     u64::from_ne_bytes(buf)
    /// })?;
    /// assert_eq!(reactor.block_on(got)?, Ok(3));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub async fn read_with<R>(
        &self,
        mut op: impl FnMut(&F) -> core::result::Result<R, Errno>,
    ) -> Result<R> {
        loop {
            self.readable().await?;
            match op(&self.source.io) {
                Err(Errno::EAGAIN) => self.source.readable.set(false),
                Err(Errno::EINTR) => {}
                done => return done.map_err(Error::Os),
            }
        }
    }

    /// [`read_with`](Async::read_with) for writing: waits for writability before each try.
    ///
    /// # Errors
    /// As [`read_with`](Async::read_with).
    ///
    /// ```
    /// use barepoll::{sys, sys::AsFd, task::Async, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let efd = Async::new(&reactor.spawner()?, sys::eventfd(0, 0)?)?;
    /// let wrote = reactor.spawn(async move {
    ///     efd.write_with(|fd| sys::write(fd.as_fd(), &1u64.to_ne_bytes())).await
    /// })?;
    /// assert_eq!(reactor.block_on(wrote)?, Ok(Ok(8)));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub async fn write_with<R>(
        &self,
        mut op: impl FnMut(&F) -> core::result::Result<R, Errno>,
    ) -> Result<R> {
        loop {
            self.writable().await?;
            match op(&self.source.io) {
                Err(Errno::EAGAIN) => self.source.writable.set(false),
                Err(Errno::EINTR) => {}
                done => return done.map_err(Error::Os),
            }
        }
    }

    /// Reads into `buf` (`read(2)`; `recv` on a stream socket), waiting while there is nothing
    /// to read; `Ok(0)` at end of file. An empty `buf` gives `Ok(0)` once the fd is (or may be)
    /// readable, as `read(2)` does, and takes nothing (a datagram socket keeps its datagram).
    ///
    /// # Errors
    /// As [`read_with`](Async::read_with).
    ///
    /// ```
    /// # use barepoll::{sys, task::Async, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let (r, w) = sys::pipe(0)?;
    /// let r = Async::new(&reactor.spawner()?, r)?;
    /// drop(w);
    /// let n = reactor.spawn(async move { r.read(&mut [0u8; 4]).await })?;
    /// assert_eq!(reactor.block_on(n)?, Ok(Ok(0)));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub async fn read(&self, buf: &mut [u8]) -> Result<usize> {
        let len = buf.len();
        let source = &self.source;
        // An empty buffer is `read(2)`'s even on a stream socket: 0 at once, where an empty
        // `recv` waits for data (`EAGAIN`).
        let stream = source.stream && len != 0;
        let n = self
            .read_with(|io| match stream {
                true => sys::recv(io.as_fd(), buf),
                false => sys::read(io.as_fd(), buf),
            })
            .await?;
        if n > 0 && n < len && source.stream && !source.read_closed.get() {
            // A stream socket's short read took all it held: wait for the next edge rather
            // than read again for `EAGAIN` (its end of file comes with `EPOLLRDHUP`).
            source.readable.set(false);
        }
        Ok(n)
    }

    /// Writes from `buf` (`write(2)`; [`send`](sys::send) on a stream socket), waiting while
    /// the fd cannot take more. A stream socket whose peer has gone gives `EPIPE` (or
    /// `ECONNRESET`) and never raises `SIGPIPE`, whose default action would end a program
    /// that does not ignore it (std ignores it at start-up; a libc-free program does not).
    /// Other sockets are written with `write(2)`, which marks a `SOCK_SEQPACKET` record's end
    /// (`MSG_EOR`) as `send` would not.
    ///
    /// # Errors
    /// As [`read_with`](Async::read_with) (`EPIPE` once the reader is gone).
    ///
    /// ```
    /// # use barepoll::{sys, task::Async, Reactor};
    /// let mut reactor = Reactor::new()?;
    /// let (r, w) = sys::pipe(0)?;
    /// let w = Async::new(&reactor.spawner()?, w)?;
    /// let n = reactor.spawn(async move { w.write(b"abc").await })?;
    /// assert_eq!(reactor.block_on(n)?, Ok(Ok(3)));
    /// # drop(r);
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub async fn write(&self, buf: &[u8]) -> Result<usize> {
        let stream = self.source.stream;
        self.write_with(|io| match stream {
            true => sys::send(io.as_fd(), buf),
            false => sys::write(io.as_fd(), buf),
        })
        .await
    }

    /// Accepts a connection on a listening socket (non-blocking and close-on-exec), waiting
    /// while none is pending.
    ///
    /// # Errors
    /// As [`read_with`](Async::read_with) (`EMFILE` when out of descriptors, say).
    ///
    /// ```
    /// use barepoll::sys::{self, AsFd, Domain, SocketAddr, SocketType};
    /// use barepoll::{task::Async, Reactor};
    ///
    /// let mut reactor = Reactor::new()?;
    /// let listener = sys::socket(Domain::V4, SocketType::Stream, 0)?;
    /// sys::bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], 0))?;
    /// sys::listen(listener.as_fd(), 16)?;
    /// let addr = sys::local_addr(listener.as_fd())?;
    /// let listener = Async::new(&reactor.spawner()?, listener)?;
    /// let accepted = reactor.spawn(async move { listener.accept().await.map(|(_, peer)| peer) })?;
    /// let client = sys::socket(Domain::V4, SocketType::Stream, 0)?;
    /// sys::connect(client.as_fd(), &addr)?;
    /// assert_eq!(reactor.block_on(accepted)?, Ok(Ok(sys::local_addr(client.as_fd())?)));
    /// # Ok::<(), barepoll::Error>(())
    /// ```
    pub async fn accept(&self) -> Result<(OwnedFd, SocketAddr)> {
        self.read_with(|io| sys::accept(io.as_fd(), sys::SOCK_NONBLOCK))
            .await
    }
}

impl<F: AsFd + 'static> Drop for Async<F> {
    fn drop(&mut self) {
        let mut executor = self.executor.borrow_mut();
        match self.source.key.get() {
            Some(key) if !executor.closed => executor.io_delete.push(key),
            _ => self.source.dropped.set(true),
        }
    }
}

impl<F: AsFd + 'static> fmt::Debug for Async<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async")
            .field("fd", &self.source.io.as_fd().as_raw_fd())
            .finish_non_exhaustive()
    }
}

/// The future of [`Async::readable`] and [`Async::writable`].
///
/// ```
/// # let mut reactor = barepoll::Reactor::new()?;
/// # let efd = barepoll::task::Async::new(&reactor.spawner()?, barepoll::sys::eventfd(0, 0)?)?;
/// let _: barepoll::task::Readiness<'_, _> = efd.writable();
/// # Ok::<(), barepoll::Error>(())
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Readiness<'a, F> {
    source: &'a Source<F>,
    write: bool,
    /// Where its waker is listed while it is pending; taken back when it completes or drops.
    parked: Option<Parked>,
}

impl<F> Readiness<'_, F> {
    /// Takes its listing back, if it has one (inlined: it rarely has).
    #[inline]
    fn unpark(&mut self) {
        if let Some(parked) = self.parked.take() {
            self.unlist(parked);
        }
    }

    #[inline(never)]
    fn unlist(&self, parked: Parked) {
        let leaving = self.source.waiters(self.write).borrow_mut().unpark(parked);
        drop(leaving);
    }

    /// Lists the task's waker (unless it is listed already) and returns `Pending`.
    #[inline(never)]
    fn park(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut waiters = self.source.waiters(self.write).borrow_mut();
        if let Some(parked) = &self.parked {
            if waiters.holds(parked, cx.waker()) {
                return Poll::Pending;
            }
        }
        let leaving = self.parked.take().and_then(|p| waiters.unpark(p));
        self.parked = waiters.park(cx.waker());
        drop(waiters);
        drop(leaving);
        if self.parked.is_none() {
            // No memory to list it: polled again, it retries (never left waiting unlisted).
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl<F> Drop for Readiness<'_, F> {
    fn drop(&mut self) {
        self.unpark();
    }
}

impl<F> Future for Readiness<'_, F> {
    type Output = Result<()>;

    /// The common poll finds the fd ready (or the source failed) and returns at once;
    /// parking is out of line.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let source = this.source;
        let flag = if this.write {
            &source.writable
        } else {
            &source.readable
        };
        if let Some(e) = source.error.get() {
            this.unpark();
            return Poll::Ready(Err(e));
        }
        if flag.get() {
            this.unpark();
            return Poll::Ready(Ok(()));
        }
        this.park(cx)
    }
}

impl<F> fmt::Debug for Readiness<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness")
            .field("write", &self.write)
            .finish_non_exhaustive()
    }
}

/// A task I/O source's node: records its events.
struct IoNode {
    io: Rc<dyn TaskIo>,
}

impl AsFd for IoNode {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.fd()
    }
}

/// Dropped with its reactor (or once its handle is gone): a task still awaiting the source,
/// from another reactor, is woken and told `Closed`.
impl Drop for IoNode {
    fn drop(&mut self) {
        self.io.closed();
    }
}

impl<D, T: Threads> Subscriber<D, T> for IoNode {
    fn has_init(&self) -> bool {
        false
    }

    fn handle(&mut self, event: Event, _: &mut Ops<'_, D, T>) {
        self.io.ready(event);
    }
}

/// Deletes the sources tasks dropped and registers those they made (before each wait, and
/// after the turn's tasks): no batch may be open.
pub(crate) fn settle_io<D, T: Threads>(registry: &mut Registry<D, T>) {
    let Some(tasks) = &registry.tasks else {
        return;
    };
    let (add, delete) = {
        let mut executor = tasks.0.borrow_mut();
        if executor.io_add.is_empty() && executor.io_delete.is_empty() {
            return;
        }
        let add = core::mem::take(&mut executor.io_add);
        (add, core::mem::take(&mut executor.io_delete))
    };
    for key in delete {
        // Stale only if the reactor deleted it itself meanwhile: nothing to do then.
        if registry.remove(key, drop).is_err() {}
    }
    // `rdhup`: a peer's shutdown is told apart, so reads after it never wait for an edge.
    let edge = interest::interest().read().write().rdhup().edge();
    for io in add.into_iter().filter(|io| !io.dropped()) {
        let node = IoNode { io: io.clone() };
        let registered = registry.insert_task_io(node, edge);
        io.registered(registered);
    }
}
