//! What the run could not make identical for every variant, said next to the figures: for
//! the fd cases (from the wait syscalls each variant makes), the timer cases (how calloop
//! resets a timer, how each reads the clock, what callgrind sees) and the remote calls.

use crate::syscalls::Waits;
use crate::variants::ALL;

/// What the run could not make identical for every variant, said next to the figures.
pub fn fairness(waits: &[Waits], (inline, behind): (f64, f64)) -> Vec<String> {
    let mut notes = vec![
        format!(
            "On this machine one wait for a ready fd takes {inline:.0} ns with the syscall \
             inline and {behind:.0} ns with the same syscall behind a function call (median of \
             interleaved rounds). Variants whose wait syscall sits in a function the loop calls \
             (glibc's `epoll_wait` for mio, eventp and event-manager; `Poller::wait` for \
             polling and calloop) pay that difference on every wait, in wall time only: it is \
             a handful of instructions. barepoll and the two hand-written loops inline theirs."
        ),
        "mio registers edge-triggered only; its dispatch harnesses add their fds \
         level-triggered with `epoll_ctl` on mio's own epoll fd (as the others), while its \
         churn and memory probe go through mio's `Registry`."
            .to_string(),
        "event-manager cannot add a subscriber from a handler: its churn adds and removes the \
         fd in the driver's own watch list."
            .to_string(),
        "calloop waits through polling with a fixed 1024-event buffer; the others get N events \
         (dispatch) or 256 (churn)."
            .to_string(),
    ];
    let differ: Vec<String> = ALL
        .iter()
        .zip(waits)
        .filter_map(|(variant, w)| {
            let native = w.native.as_ref()?.wait()?.0;
            let under = w.callgrind.as_ref()?.wait()?.0;
            (native != under).then(|| format!("{} (`{native}` → `{under}`)", variant.label))
        })
        .collect();
    if !differ.is_empty() {
        notes.push(format!(
            "Under callgrind some variants wait with another syscall than natively (valgrind \
             may lack `epoll_pwait2`), so their instruction counts are of that path: {}.",
            differ.join(", ")
        ));
    }
    notes
}

/// The timer cases' notes, given what a clock reading costs here (barepoll's, std's) and what
/// a wait for a ready fd costs (with no timeout, with one), in nanoseconds.
pub fn timers((barepoll, std): (f64, f64), (untimed, timed): (f64, f64)) -> Vec<String> {
    vec![
        "Timers: barepoll arms, cancels and resets with `arm`, `cancel` and `reset` (on the \
         reactor, or on `Ops` from a handler). calloop inserts a `Timer` source per timer \
         (`insert_source`) and removes it (`remove`). It has no reset for a registered timer: \
         its harnesses reset one as `Timer::set_duration`'s docs say, changing the deadline \
         through the `Dispatcher` the timer was registered with (`set_duration` reads the \
         clock) and re-registering it with `LoopHandle::update`, which takes its entry out of \
         the timer heap (a scan of the heap, `BinaryHeap::retain`, unless it is at the top) \
         and pushes a new one. Removing and inserting the source would add a scan of the \
         source list for a free slot and an allocation."
            .to_string(),
        "Every timer callback that should not fire captures a counter (8 bytes) that it would \
         bump; the spread timers bump the loop's shared count, so barepoll allocates nothing \
         for them (calloop allocates a source for every timer). The arm+cancel pair and the \
         reset run in a handler of one ready fd, so their figures include one wait and its \
         dispatch, which the rows marked \"alone\" take off (barepoll's reset reads the \
         clock, through the vDSO outside valgrind and with a `clock_gettime` syscall under it, \
         which hides the vDSO; a deadline later than the entry's slot leaves it there). In \
         the idle-reset case all 10k connections are ready and each wait \
         returns 1024 events (calloop's fixed buffer; barepoll is given the same capacity)."
            .to_string(),
        format!(
            "barepoll reads the monotonic clock through the vDSO, found by its own ELF lookup \
             (feature `vdso`, on by default; a `clock_gettime` syscall where none is mapped): \
             {barepoll:.0} ns a reading here, against {std:.0} ns for std's reading through \
             glibc's vDSO, which calloop uses (medians of interleaved rounds). A turn reads it \
             only when it needs it: timers were armed since the last reading, a reset moved a \
             deadline earlier, or its alarm rang (one timerfd per reactor, set to the earliest deadline \
             whenever that moves earlier); a turn with timers armed and nothing changed reads \
             no clock and waits with no timeout. Without an alarm (no timerfd, or the feature \
             off) each turn with timers armed reads the clock and gives its wait a timeout, \
             which the kernel converts with a reading of its own: a wait for a ready fd takes \
             {untimed:.0} ns here with no timeout and {timed:.0} ns with one. Both are kernel \
             time: wall times include them, instruction counts do not. Under valgrind there is \
             no vDSO, so barepoll's and calloop's readings are syscalls there, and their \
             instruction counts leave out the vDSO's instructions."
        ),
        "Under callgrind the program runs tens of times slower than natively, so the spread \
         timers fall due in fewer and larger batches (once the arming is done, most are \
         overdue): those counts are of that schedule. Wall times are native."
            .to_string(),
        "Lateness: barepoll waits for a deadline on its alarm, a timerfd set to the deadline \
         (absolute, so no timer slack), with no timeout on the wait; it sets the timerfd only \
         when the earliest deadline moves earlier. polling, calloop's poller, arms a timerfd \
         for each timeout and waits on it with no timeout, which costs two more syscalls per \
         wait (`timerfd_settime`, `epoll_ctl`). The kernel rows are the two ways to wait for a \
         deadline alone: an epoll wait with a timeout, which may end up to the thread's timer \
         slack late (50 µs by default, `prctl(PR_SET_TIMERSLACK)`), and a timerfd."
            .to_string(),
    ]
}

/// The remote calls' notes.
pub fn remote() -> Vec<String> {
    vec![
        "Remote calls: barepoll's calls bump the reactor's state through `ops.data()`; \
         eventp's and event-manager's loops and the hand-written mio one have no state of their \
         own, so their calls bump a thread-local counter on the loop's thread. The mio one is \
         what a careful user writes in a dozen lines: a `mio::Waker`, an `AtomicBool` (read, \
         then swapped, so only the first post of a burst wakes) and a `std::sync::mpsc` \
         channel of `Box<dyn FnOnce() + Send>`. Every call is a closure that captures \
         nothing, so no variant allocates for it. Writes are the posting thread's `write` \
         syscalls as the kernel counts them (`syscw` in `/proc/thread-self/io`), with no \
         tracer to slow it down."
            .to_string(),
        "event-manager is built with its `remote_endpoint` feature in this binary (features \
         apply to the whole build), so each `EventManager` in every table registers one more \
         eventfd and tells it apart from the subscribers' fds: a compare per event and a check \
         per wait. Against a build without it (rustc 1.95, event-manager 0.4.2), its counts \
         moved by −11 instructions per wait at N=1, +2 per event at N=1024 and +22 per churn \
         pair."
            .to_string(),
        "Under callgrind the two threads run one at a time (valgrind serialises them), so the \
         loop finds longer queues each wake than natively: the instruction counts (both \
         threads' measured functions) are of that schedule, and barepoll's coalescing of \
         wakes saves more there."
            .to_string(),
    ]
}
