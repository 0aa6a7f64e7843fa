//! What the run could not make identical for every variant, said next to the figures.

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
