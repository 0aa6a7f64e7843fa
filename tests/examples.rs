//! The timers, remote and observe examples, run in-process (their sources are included as modules):
//! what they print is what they did.
#![cfg(feature = "std")]

#[path = "../examples/observe.rs"]
mod observe;
#[path = "../examples/remote.rs"]
mod remote;
#[path = "../examples/timers.rs"]
mod timers;

#[test]
#[cfg_attr(miri, ignore = "real time")]
fn the_timers_example_ticks_postpones_cancels_and_never_fires_early() {
    let log = timers::demo().unwrap();
    let lines = &log.lines;
    // What holds however late a loaded machine (or an emulator) runs the ticks, each a
    // consequence of another, never of how turns fall: at least five ticks (each of the first
    // five postpones the timeout by 25 ms); the one-shot after the tick that armed it, 5 ms or
    // more later; the timeout 25 ms or more after tick 5. Late ticks may fall due in the turn
    // of the timeout (so how many there are, and whether one comes after it, is load's call).
    assert!(log.ticks >= 5, "{lines:#?}");
    let at = |s: &str| {
        lines
            .iter()
            .find(|l| l.contains(s))
            .and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {s:?} in {lines:#?}"))
    };
    let pos = |s: &str| lines.iter().position(|l| l.contains(s)).unwrap();
    assert!(pos("tick 3") < pos("one-shot"), "{lines:#?}");
    assert!(pos("tick 5") < pos("idle timeout"), "{lines:#?}");
    // Milliseconds are truncated, so a 5 ms gap may show as 4.
    assert!(at("one-shot") + 1 >= at("tick 3") + 5, "{lines:#?}");
    assert!(at("idle timeout") + 1 >= at("tick 5") + 25, "{lines:#?}");
    let fired = timers::fired_after(50).unwrap();
    assert_eq!(fired.len(), 50);
    assert!(
        fired.iter().all(|&ns| ns >= 1_000_000),
        "a timer fired early: {fired:?}"
    );
}

#[test]
fn the_remote_example_gets_every_result_in_order() {
    let (primes, counted) = remote::run(1000).unwrap();
    assert_eq!((primes.len(), counted), (168, 168));
    assert!(primes.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(primes.last(), Some(&997));
}

// Ten pokes, each an event after a timer callback: the observer saw all of them, in turns
// it was told of.
#[test]
#[cfg_attr(miri, ignore = "real time")]
fn the_observe_example_sees_every_event_and_timer() {
    let seen = observe::run().unwrap();
    assert_eq!(seen.events, 10);
    assert!(seen.timers >= 10, "{} timer callbacks", seen.timers);
    assert!(seen.turns >= 10, "{} turns", seen.turns);
}
