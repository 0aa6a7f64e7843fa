//! What both servers do around their echo: read the arguments, make the listening socket,
//! report a failed setup step, and write lines without `core::fmt` (which would add kilobytes
//! to a static binary). It holds no state and may not allocate.

use barepoll::sys::{self, AsFd, Errno, OwnedFd, SocketAddr};
use core::time::Duration;

const DEFAULT_IDLE_MS: u64 = 10_000;

/// A setup step that failed, and the kernel's error if there was one.
pub struct Failure(&'static str, Option<Errno>);

/// Names the step a `Result` came from, for the report.
pub trait Context<T> {
    fn during(self, step: &'static str) -> Result<T, Failure>;
}

impl<T> Context<T> for Result<T, Errno> {
    fn during(self, step: &'static str) -> Result<T, Failure> {
        self.map_err(|e| Failure(step, Some(e)))
    }
}

impl<T> Context<T> for Result<T, barepoll::Error> {
    fn during(self, step: &'static str) -> Result<T, Failure> {
        self.map_err(|e| Failure(step, e.errno()))
    }
}

/// Runs `serve` with the arguments `[PORT [IDLE_MS]]` (PORT 0 and IDLE_MS 10000 when absent)
/// and returns the exit status: 0 once `serve` returns, 2 for bad arguments (and `usage` on
/// stderr), 1 (and `NAME: STEP: errno N` on stderr) if a setup step failed.
pub fn run(
    name: &[u8],
    usage: &[u8],
    serve: impl FnOnce(u16, Duration) -> Result<(), Failure>,
) -> i32 {
    let args = sys::rt::args();
    let number = |i, default| args.get(i).map_or(Some(default), parse);
    let (Some(port @ 0..=0xffff), Some(idle_ms), 1..=3) =
        (number(1, 0), number(2, DEFAULT_IDLE_MS), args.len())
    else {
        let _ = sys::write(sys::stderr(), usage);
        return 2;
    };
    let Err(Failure(step, errno)) = serve(port as u16, Duration::from_millis(idle_ms)) else {
        return 0;
    };
    let mut line = Line::new();
    line.push(name);
    line.push(b": ");
    line.push(step.as_bytes());
    if let Some(e) = errno {
        line.push(b": errno ");
        line.push_decimal(e.raw() as u64);
    }
    line.push(b"\n");
    let _ = sys::write(sys::stderr(), line.as_bytes());
    1
}

/// A non-blocking listening socket on 127.0.0.1:`port` (0 picks one), and its port.
pub fn listen(port: u16) -> Result<(OwnedFd, u16), Errno> {
    let listener = sys::socket(sys::Domain::V4, sys::SocketType::Stream, sys::SOCK_NONBLOCK)?;
    sys::setsockopt(listener.as_fd(), sys::SockOpt::ReuseAddr, true)?;
    sys::bind(listener.as_fd(), &SocketAddr::v4([127, 0, 0, 1], port))?;
    sys::listen(listener.as_fd(), 128)?;
    let port = sys::local_port(listener.as_fd())?;
    Ok((listener, port))
}

/// Writes `listening on 127.0.0.1:PORT` to stdout.
pub fn announce(port: u16) -> Result<(), Failure> {
    let mut line = Line::new();
    line.push(b"listening on 127.0.0.1:");
    line.push_decimal(port.into());
    line.push(b"\n");
    sys::write(sys::stdout(), line.as_bytes()).during("write")?;
    Ok(())
}

/// A decimal number of at most 19 digits; `None` for anything else.
fn parse(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
    })
}

/// A line of output, made without `core::fmt`.
struct Line {
    buf: [u8; 64],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line {
            buf: [0; 64],
            len: 0,
        }
    }

    /// Appends `s`, cut short if the line is full.
    fn push(&mut self, s: &[u8]) {
        for &c in s {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = c;
                self.len += 1;
            }
        }
    }

    fn push_decimal(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}
