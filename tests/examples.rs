//! The timers and remote examples, run in-process (their sources are included as modules):
//! what they print is what they did.
#![cfg(feature = "std")]

#[path = "../examples/remote.rs"]
mod remote;
#[path = "../examples/timers.rs"]
mod timers;

#[test]
#[cfg_attr(miri, ignore = "real time")]
fn the_timers_example_ticks_postpones_cancels_and_never_fires_early() {
    let log = timers::demo().unwrap();
    let lines = &log.lines;
    assert_eq!(log.ticks, 7, "{lines:#?}");
    let pos = |s: &str| {
        lines
            .iter()
            .position(|l| l.contains(s))
            .unwrap_or(usize::MAX)
    };
    assert!(
        pos("tick 3") < pos("one-shot") && pos("one-shot") < pos("tick 4"),
        "{lines:#?}"
    );
    assert_eq!(pos("idle timeout"), lines.len() - 1, "{lines:#?}");
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
