//! The thin-pointer loop: the floor for a reactor that dispatches through a pointer. The
//! `data` word is the address of a per-fd heap node holding a function pointer and the fd's
//! state; the loop calls through it. Nodes are owned by a table indexed by fd number, which
//! is how one finds a node again to delete it.
//!
//! It keeps none of a reactor's guarantees: a node deleted during a batch is freed at once
//! (the harnesses never delete one that is still to be dispatched), a closed fd is not
//! noticed, nothing survives a panic.

use super::{measured, Conn, Fd, CHURN_CAPACITY, PAIRS};
use crate::memory::Footprint;
use crate::raw::{self, Epoll, Event};
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

type Call = unsafe fn(&mut Conn, &mut Table);

#[repr(C)]
struct Node {
    call: Call,
    conn: Conn,
}

/// The epoll set and the nodes by fd number, as raw pointers (freed by `delete` or drop).
struct Table {
    epoll: Epoll,
    slots: Vec<Option<NonNull<Node>>>,
    churned: Option<Fd>,
}

impl Table {
    fn new() -> Table {
        Table {
            epoll: Epoll::new(),
            slots: Vec::new(),
            churned: None,
        }
    }

    #[inline(always)]
    fn add(&mut self, fd: Fd, call: Call) {
        let index = fd.as_raw_fd() as usize;
        if index >= self.slots.len() {
            self.slots.resize(index + 1, None);
        }
        let node = NonNull::from(Box::leak(Box::new(Node {
            call,
            conn: Conn::new(fd),
        })));
        self.epoll.add(fd, node.as_ptr() as u64);
        self.slots[index] = Some(node);
    }

    #[inline(always)]
    fn delete(&mut self, fd: Fd) {
        self.epoll.delete(fd);
        if let Some(node) = self.slots[fd.as_raw_fd() as usize].take() {
            // SAFETY: the node came from `Box::leak` in `add` and no kernel entry names it now.
            drop(unsafe { Box::from_raw(node.as_ptr()) });
        }
    }

    /// Waits once and calls each event's node.
    #[inline(always)]
    fn turn(&mut self, events: &mut [Event]) {
        let n = self.epoll.wait(events);
        for event in &events[..n] {
            let node = event.data as usize as *mut Node;
            // SAFETY: every `data` word is a live node's address (none is deleted mid-batch);
            // the table holds it as a raw pointer, so this is the only reference to its `conn`.
            unsafe { ((*node).call)(&mut (*node).conn, self) };
        }
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        for node in self.slots.drain(..).flatten() {
            // SAFETY: as in `delete`; the epoll set closes with the table.
            drop(unsafe { Box::from_raw(node.as_ptr()) });
        }
    }
}

unsafe fn bump(conn: &mut Conn, _: &mut Table) {
    conn.count.bump();
}

/// The churn driver's handler: its own counter counts the pairs.
unsafe fn churn(conn: &mut Conn, table: &mut Table) {
    let churned = table.churned.expect("set by Churn::new");
    for _ in 0..PAIRS {
        table.add(churned, bump);
        table.delete(churned);
        conn.count.bump();
    }
}

pub struct Dispatch {
    table: Table,
    events: Vec<Event>,
}

impl Dispatch {
    pub fn new(ready: &[Fd], idle: &[Fd]) -> Dispatch {
        let mut table = Table::new();
        for &fd in ready.iter().chain(idle) {
            table.add(fd, bump);
        }
        let events = raw::events(ready.len());
        Dispatch { table, events }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.table.turn(&mut self.events);
    }
}

measured!(Dispatch, bench_dispatch_thin);

pub struct Churn {
    table: Table,
    events: Vec<Event>,
}

impl Churn {
    pub fn new(driver: Fd, churned: Fd) -> Churn {
        let mut table = Table::new();
        table.churned = Some(churned);
        table.add(driver, churn);
        let events = raw::events(CHURN_CAPACITY);
        Churn { table, events }
    }

    #[inline(always)]
    fn turn(&mut self) {
        self.table.turn(&mut self.events);
    }
}

measured!(Churn, bench_churn_thin);

pub fn memory(fds: &[Fd]) -> Footprint {
    let mut table = Table::new();
    let start = Footprint::now();
    for &fd in fds {
        table.add(fd, bump);
    }
    Footprint::now().since(start)
}
