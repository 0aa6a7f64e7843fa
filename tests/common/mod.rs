//! Shared test helpers: an fd-leak guard and a configurable probe subscriber.
#![allow(dead_code)]

use barepoll::sys::{self, AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use barepoll::{Event, Interest, Ops, Subscriber};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

/// Read interest: level-triggered, except under Miri, whose epoll is edge-triggered only.
/// Tests that expect a second event make the fd ready again first, so they hold either way.
pub fn readable() -> Interest {
    if cfg!(miri) {
        barepoll::interest().read().edge()
    } else {
        barepoll::interest().read()
    }
}

/// Number of open fds in this process. (Under Miri fds are virtual and `/proc` is the host's:
/// there, subscribers' drop counters are the evidence that fds were closed.)
pub fn open_fds() -> usize {
    if cfg!(miri) {
        return 0;
    }
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Serialises the tests of one binary that open fds and asserts, when dropped at the end of
/// the test body, that the open-fd count is what it was at the start.
pub struct FdCheck {
    before: usize,
    _serial: MutexGuard<'static, ()>,
}

pub fn fd_check() -> FdCheck {
    let serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    FdCheck {
        before: open_fds(),
        _serial: serial,
    }
}

impl Drop for FdCheck {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_eq!(open_fds(), self.before, "the test leaked (or closed) an fd");
        }
    }
}

/// A readable (counter `init`) non-blocking eventfd.
pub fn eventfd(init: u32) -> OwnedFd {
    sys::eventfd(init, sys::EFD_NONBLOCK).unwrap()
}

pub fn poke(fd: BorrowedFd<'_>) {
    sys::write(fd, &1u64.to_ne_bytes()).unwrap();
}

pub fn drain(fd: BorrowedFd<'_>) -> u64 {
    let mut buf = [0u8; 8];
    match sys::read(fd, &mut buf) {
        Ok(_) => u64::from_ne_bytes(buf),
        Err(sys::Errno::EAGAIN) => 0,
        Err(e) => panic!("read: {e}"),
    }
}

pub type Action = Box<dyn FnMut(Event, &mut Ops<'_>)>;

/// Counts its events and its drops; runs `action` on each event.
pub struct Probe {
    pub fd: OwnedFd,
    pub hits: Rc<Cell<u32>>,
    pub drops: Rc<Cell<u32>>,
    pub action: Action,
    pub panic_on_drop: bool,
}

impl Probe {
    pub fn new(fd: OwnedFd) -> (Probe, Counters) {
        let c = Counters::default();
        let p = Probe {
            fd,
            hits: c.hits.clone(),
            drops: c.drops.clone(),
            action: Box::new(|_, _| {}),
            panic_on_drop: false,
        };
        (p, c)
    }

    pub fn on_event(mut self, f: impl FnMut(Event, &mut Ops<'_>) + 'static) -> Probe {
        self.action = Box::new(f);
        self
    }
}

#[derive(Clone, Default)]
pub struct Counters {
    pub hits: Rc<Cell<u32>>,
    pub drops: Rc<Cell<u32>>,
}

impl Counters {
    pub fn hits(&self) -> u32 {
        self.hits.get()
    }
    pub fn drops(&self) -> u32 {
        self.drops.get()
    }
}

impl AsFd for Probe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Subscriber for Probe {
    fn handle(&mut self, event: Event, ops: &mut Ops<'_>) {
        self.hits.set(self.hits.get() + 1);
        (self.action)(event, ops);
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if self.panic_on_drop {
            panic!("destructor panic (planted by the test)");
        }
    }
}

/// Where a [`Borrowed`] subscriber's fd really lives.
pub type Holder = Rc<RefCell<Option<OwnedFd>>>;

/// A subscriber over an fd number it does not own: `holder` owns it and the test may close it
/// behind the reactor's back.
pub struct Borrowed {
    pub raw: RawFd,
    pub holder: Holder,
    pub hits: Rc<Cell<u32>>,
    pub drops: Rc<Cell<u32>>,
}

impl Borrowed {
    pub fn new(fd: OwnedFd) -> (Borrowed, Counters, Holder) {
        let c = Counters::default();
        let holder = Rc::new(RefCell::new(None));
        let raw = fd.as_raw_fd();
        *holder.borrow_mut() = Some(fd);
        let b = Borrowed {
            raw,
            holder: holder.clone(),
            hits: c.hits.clone(),
            drops: c.drops.clone(),
        };
        (b, c, holder)
    }
}

impl AsFd for Borrowed {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY (test code): the number is only passed to the kernel, which checks it.
        unsafe { BorrowedFd::borrow_raw(self.raw) }
    }
}

impl Subscriber for Borrowed {
    fn handle(&mut self, _: Event, _: &mut Ops<'_>) {
        self.hits.set(self.hits.get() + 1);
    }
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

/// Sets the soft fd limit; returns the old one.
pub fn fd_limit(soft: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY (test code): getrlimit/setrlimit with a valid struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        let old = lim.rlim_cur;
        lim.rlim_cur = soft;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        old
    }
}

/// Makes every descriptor number from the lowest free one on unavailable (no epoll set can be
/// made, so a refused DEL retires its node); returns the old limit, for `fd_limit(old)`.
pub fn exhaust_descriptors() -> u64 {
    let limit = eventfd(0).as_raw_fd() as u64;
    fd_limit(limit)
}

/// A second fd for the same open file (test code: `dup` through libc).
pub fn dup(fd: &OwnedFd) -> OwnedFd {
    // SAFETY (test code): dup of an open fd; the new number is owned by the result.
    let raw = unsafe { libc::dup(fd.as_raw_fd()) };
    assert!(raw >= 0, "dup failed");
    // SAFETY (test code): `raw` was just returned by dup and nothing else owns it.
    unsafe { <OwnedFd as sys::FromRawFd>::from_raw_fd(raw) }
}

/// A subscriber whose fd safe code closed behind the reactor's back (through `get_mut`),
/// while a dup keeps the file, and so the kernel's registration of it, alive: a DEL by its
/// number is refused from then on.
pub struct Ghost {
    pub key: barepoll::Key,
    /// The number it was registered under, free again.
    pub number: RawFd,
    /// The dup that keeps the file alive.
    pub keeper: OwnedFd,
    pub drops: Rc<Cell<u32>>,
}

/// Registers an eventfd subscriber in `r` and makes it a [`Ghost`].
pub fn ghost(r: &mut barepoll::Reactor) -> Ghost {
    let fd = eventfd(0);
    let number = fd.as_raw_fd();
    let keeper = dup(&fd);
    let (s, drops) = Swappable::new(fd);
    let key = r.register(s, readable()).unwrap();
    r.get_mut::<Swappable>(key).unwrap().fd = None; // closes `number`
    Ghost {
        key,
        number,
        keeper,
        drops,
    }
}

/// A subscriber whose fd safe code can close (set to `None`) or replace while it is
/// registered, as `get_mut` allows.
pub struct Swappable {
    pub fd: Option<OwnedFd>,
    pub drops: Rc<Cell<u32>>,
}

impl Swappable {
    pub fn new(fd: OwnedFd) -> (Swappable, Rc<Cell<u32>>) {
        let drops = Rc::new(Cell::new(0));
        (
            Swappable {
                fd: Some(fd),
                drops: drops.clone(),
            },
            drops,
        )
    }
}

impl AsFd for Swappable {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd
            .as_ref()
            .expect("asked for the fd after registration")
            .as_fd()
    }
}

impl Subscriber for Swappable {
    fn handle(&mut self, _: Event, _: &mut Ops<'_>) {
        panic!("a Swappable's handler never runs in these tests");
    }
}

impl Drop for Swappable {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

/// The example binary beside the test binaries; `None` where the kernel cannot run it (a test
/// binary of another architecture under qemu-user).
pub fn example_binary(name: &str) -> Option<std::path::PathBuf> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/arch").unwrap_or_default();
    if !kernel.is_empty() && kernel.trim() != std::env::consts::ARCH {
        return None;
    }
    // Beside the test binaries' directory (`target/[TRIPLE/]PROFILE/examples`), whatever
    // layout this cargo uses for the test binaries themselves.
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("examples").join(name))
        .find(|bin| bin.exists())
        .unwrap_or_else(|| exe.with_file_name(name));
    let built = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified());
    let source =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.rs"));
    // `cargo test --test NAME` alone does not build the examples: never test a stale one.
    assert!(
        matches!((built(&bin), built(&source)), (Ok(b), Ok(s)) if b >= s),
        "{} is not built, or older than its source: `cargo test` builds the examples (or \
         `cargo build --example {name}`)",
        bin.display()
    );
    Some(bin)
}

/// Starts the built example `name` with `args`, its stdout and stderr piped, and reads the
/// address its first line announces after `prefix`; `None` where the example cannot run
/// (an emulated target: see [`example_binary`]).
#[allow(dead_code)] // not every test binary starts an example
pub fn start_example(
    name: &str,
    args: &[&str],
    prefix: &str,
) -> Option<(std::process::Child, String)> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let Some(bin) = example_binary(name) else {
        eprintln!("emulated: the {name} example cannot run here");
        return None;
    };
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_string();
    Some((child, addr))
}

/// Whether the tests run under valgrind, whose tool makes reads and writes of its own on the
/// tested threads.
pub fn under_valgrind() -> bool {
    std::env::var("LD_PRELOAD")
        .unwrap_or_default()
        .contains("vgpreload")
}

/// Write syscalls made so far by the calling thread (`syscw` in /proc/thread-self/io), if the
/// kernel tells and they are the thread's own (not under valgrind).
pub fn writes_by_this_thread() -> Option<u64> {
    if under_valgrind() {
        return None;
    }
    let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("syscw: "))
        .and_then(|n| n.trim().parse().ok())
}

/// `len` pseudo-random bytes, a different run for each `seed`: a lost, repeated or reordered
/// run of them shows.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = (seed + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An example running as a process (built by cargo, see [`start_example`]); killed if a test
/// fails before it stops it.
pub struct Running {
    pub child: std::process::Child,
    /// The address it announced.
    pub addr: String,
}

impl Running {
    /// Example `name` with `args`; its first line is `prefix` and its address. `None` where
    /// the example cannot run.
    pub fn start(name: &str, args: &[&str], prefix: &str) -> Option<Running> {
        let (child, addr) = start_example(name, args, prefix)?;
        Some(Running { child, addr })
    }

    /// A connection to it, with no delay and a 60-s read timeout (a hang guard).
    pub fn connect(&self) -> std::net::TcpStream {
        let conn = std::net::TcpStream::connect(&self.addr).unwrap();
        conn.set_nodelay(true).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        conn
    }

    /// SIGTERM; returns its exit code and what it wrote on stderr.
    pub fn stop(mut self) -> (Option<i32>, String) {
        use std::io::Read;
        let pid = sys::Pid::from_u32(self.child.id()).unwrap();
        sys::kill(pid, sys::Signal::TERM).unwrap();
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
        (status.code(), err)
    }

    /// Its resident memory, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Whether it was built with AddressSanitizer (the sanitizer CI stage): freed memory then
    /// waits in its quarantine, so its RSS says nothing about what it keeps.
    pub fn sanitized(&self) -> bool {
        let exe = std::fs::read(format!("/proc/{}/exe", self.child.id())).unwrap_or_default();
        exe.windows(16).any(|w| w == b"AddressSanitizer")
    }

    /// The sockets it has open (`socket:[INODE]`, as its descriptors name them).
    pub fn sockets(&self) -> Vec<String> {
        let dir = format!("/proc/{}/fd", self.child.id());
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .map(|target| target.display().to_string())
            .filter(|target| target.starts_with("socket:"))
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `scenario` on a thread of its own and returns what it sends, or fails the test if it
/// sends nothing for a minute: the defects these tests guard against are hangs (a lost wake, a
/// stranded job), and a hang must fail the test rather than stall the suite.
pub fn within_a_minute<R: Send + 'static>(scenario: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(scenario());
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("the scenario hung (or panicked)")
}
