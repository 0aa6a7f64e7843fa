//! The guide: how epoll behaves under this crate, recipes for the usual programs, and the
//! same small program written with other event loops beside barepoll. Chapters only: this
//! module holds no code, and every example in it runs as a test.
//!
//! - [`epoll`]: level and edge triggering, draining, end of file and `rdhup`, when to ask for
//!   write interest, regular files (`EPERM`), spurious events.
//! - [`recipes`]: per-connection timers, broadcast, backpressure, graceful shutdown, a worker
//!   pool with `Remote`, one reactor per core, signals in a
//!   multi-threaded program, testing a handler, a libc-free binary, watching the loop, tasks
//!   (`async`).
//! - [`migrating`]: from event-manager, mio, calloop and eventp.
//!
//! The chapters' examples use std's sockets and threads, so the chapters are built with the
//! `std` feature (on by default); "testing a handler" also needs `testing`, "tasks" needs
//! `tasks`.

/// Stands for a chapter built only with the `std` feature.
macro_rules! chapter {
    ($(#[$meta:meta])* $name:ident, $file:literal) => {
        $(#[$meta])*
        #[cfg_attr(feature = "std", doc = include_str!($file))]
        #[cfg_attr(
            not(feature = "std"),
            doc = "This chapter is built with the `std` feature (its examples use std's sockets and threads)."
        )]
        pub mod $name {}
    };
}

/// A migration chapter: its text, then barepoll's version of the program, one for all four.
macro_rules! migration {
    ($(#[$meta:meta])* $name:ident, $file:literal) => {
        $(#[$meta])*
        #[cfg_attr(feature = "std", doc = include_str!($file))]
        #[cfg_attr(
            feature = "std",
            doc = concat!("```\n", include_str!("migrating/echo_program.txt"), "```")
        )]
        #[cfg_attr(
            not(feature = "std"),
            doc = "This chapter is built with the `std` feature (its examples use std's sockets and threads)."
        )]
        pub mod $name {}
    };
}

chapter!(
    /// epoll for users of this crate.
    epoll,
    "epoll.md"
);

/// Recipes: the usual programs, each complete and run as a test.
pub mod recipes {
    chapter!(
        /// Per-connection timers.
        per_connection_timers,
        "recipes/timers.md"
    );
    chapter!(
        /// Broadcast.
        broadcast,
        "recipes/broadcast.md"
    );
    chapter!(
        /// Backpressure.
        backpressure,
        "recipes/backpressure.md"
    );
    chapter!(
        /// Graceful shutdown.
        graceful_shutdown,
        "recipes/shutdown.md"
    );
    chapter!(
        /// A worker pool with `Remote`, or a bounded channel.
        worker_pool,
        "recipes/workers.md"
    );
    chapter!(
        /// One reactor per core.
        per_core,
        "recipes/per_core.md"
    );
    chapter!(
        /// Signals in a multi-threaded program.
        signals,
        "recipes/signals.md"
    );
    #[cfg(feature = "testing")]
    chapter!(
        /// Testing a handler.
        testing,
        "recipes/testing.md"
    );
    #[cfg(not(feature = "testing"))]
    /// Testing a handler: this chapter is built with the `testing` feature.
    pub mod testing {}
    chapter!(
        /// A libc-free binary.
        libc_free,
        "recipes/nolibc.md"
    );
    chapter!(
        /// Watching the loop: an observer for logs, traces and counters.
        observing,
        "recipes/observing.md"
    );
    #[cfg(feature = "tasks")]
    chapter!(
        /// Tasks: a server written with `async`, an idle deadline per connection.
        tasks,
        "recipes/tasks.md"
    );
    #[cfg(not(feature = "tasks"))]
    /// Tasks: this chapter is built with the `tasks` feature.
    pub mod tasks {}
}

/// Migrating: the same small program (a TCP echo server on 127.0.0.1 that serves one client)
/// written with another event loop, then with barepoll, and what maps to what.
pub mod migrating {
    migration!(
        /// From event-manager.
        from_event_manager,
        "migrating/event_manager.md"
    );
    migration!(
        /// From mio.
        from_mio,
        "migrating/mio.md"
    );
    migration!(
        /// From calloop.
        from_calloop,
        "migrating/calloop.md"
    );
    migration!(
        /// From eventp.
        from_eventp,
        "migrating/eventp.md"
    );
}
