//! Finding `clock_gettime` in the vDSO, the small shared object the kernel maps into every
//! process (x86_64: `__vdso_clock_gettime`, version `LINUX_2.6`; aarch64:
//! `__kernel_clock_gettime`, version `LINUX_2.6.39`), so that reading the clock needs no
//! syscall.
//!
//! Owns: where the image is (the auxiliary vector's `AT_SYSINFO_EHDR`: handed over by a
//! program entry that kept its auxv, else read with `prctl(PR_GET_AUXV)` (Linux 6.4+), else
//! from `/proc/self/auxv`), and the parse of its ELF dynamic symbol table (`DT_HASH` or
//! `DT_GNU_HASH` for the count, `DT_VERSYM`/`DT_VERDEF` for the version). May not: read a
//! byte outside the image. The ELF header and program headers are read only within the
//! first 4 KiB (the least the kernel maps); everything after, only within the loaded
//! segment's size, every offset checked before it is read. An image that does not parse is
//! no vDSO: the caller then makes the syscall. Nothing here runs under Miri.

use super::fd::AsRawFd;
use super::{arch, k, nr, owned, Errno};
use core::sync::atomic::{AtomicUsize, Ordering};

/// `clock_gettime` as the vDSO exports it: the C ABI, a clock id and a `timespec` to fill;
/// 0 on success, a negative errno otherwise.
pub(crate) type ClockGettime = unsafe extern "C" fn(i32, *mut k::__kernel_timespec) -> i32;

#[cfg(target_arch = "x86_64")]
const WANT: (&[u8], &[u8], u16) = (b"__vdso_clock_gettime", b"LINUX_2.6", 62);
#[cfg(target_arch = "aarch64")]
const WANT: (&[u8], &[u8], u16) = (b"__kernel_clock_gettime", b"LINUX_2.6.39", 183);

/// Not looked up yet.
const UNKNOWN: usize = 0;
/// Looked up: none usable.
const NONE: usize = 1;
/// The function's address once found (any other value), or one of the two above.
static CLOCK_GETTIME: AtomicUsize = AtomicUsize::new(UNKNOWN);
/// `AT_SYSINFO_EHDR` as a program entry that kept its auxiliary vector handed it over.
static SYSINFO_EHDR: AtomicUsize = AtomicUsize::new(0);

/// Hands over the vDSO's address from the auxiliary vector a program entry point was given
/// (`AT_SYSINFO_EHDR`), so no call is needed to find it. 0 says there is none. Takes effect
/// if called before the clock is first read.
#[allow(dead_code)] // for a program entry that keeps its auxv
pub(crate) fn set_sysinfo_ehdr(base: usize) {
    SYSINFO_EHDR.store(base, Ordering::Relaxed);
    if base == 0 {
        // No vDSO: settle it at once.
        let _ = CLOCK_GETTIME.compare_exchange(UNKNOWN, NONE, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// The vDSO's `clock_gettime`, looked up once (racing threads compute the same answer).
#[inline]
pub(crate) fn clock_gettime() -> Option<ClockGettime> {
    let addr = match CLOCK_GETTIME.load(Ordering::Relaxed) {
        UNKNOWN => resolve(),
        NONE => return None,
        addr => addr,
    };
    if addr == NONE {
        return None;
    }
    // SAFETY: `addr` is the address of a defined, global function symbol of that name and
    // version in the kernel's own vDSO image, inside its executable loaded segment (checked
    // by `lookup`); the kernel documents that function with this C signature.
    Some(unsafe { core::mem::transmute::<usize, ClockGettime>(addr) })
}

/// Looks the function up and remembers the answer.
#[cold]
#[inline(never)]
fn resolve() -> usize {
    let addr = lookup().unwrap_or(NONE);
    CLOCK_GETTIME.store(addr, Ordering::Relaxed);
    addr
}

fn lookup() -> Option<usize> {
    let base = match SYSINFO_EHDR.load(Ordering::Relaxed) {
        0 => sysinfo_ehdr()?,
        base => base,
    };
    // The address must be mapped before a byte of it is read: a loader that runs programs
    // in its own process (valgrind) hands over the auxv it was started with, whose vDSO is
    // not there.
    mapped(base, FIRST_PAGE)?;
    let image = Image::at(base as *const u8)?;
    mapped(base, image.len)?;
    image.find(WANT.0, WANT.1)
}

/// `Some` if all of `[base, base + len)` is mapped (`mincore` fails with `ENOMEM` where a
/// page is not), `base` page-aligned and `len` at most [`MAX_IMAGE`].
fn mapped(base: usize, len: usize) -> Option<()> {
    if base == 0 || base % FIRST_PAGE != 0 || len > MAX_IMAGE {
        return None;
    }
    // One byte per page, for the smallest page size.
    let mut pages = [0u8; MAX_IMAGE / FIRST_PAGE];
    let ptr = pages.as_mut_ptr() as usize;
    // SAFETY: mincore writes one byte per page of the range (at most `len / 4096` rounded
    // up, which `pages` holds) and reads no user memory.
    let r = unsafe { arch::syscall3(nr(k::__NR_mincore), base, len, ptr) };
    Errno::result(r).ok().map(drop)
}

const AT_SYSINFO_EHDR: usize = 33;
const PR_GET_AUXV: usize = 0x4155_5856;

/// `AT_SYSINFO_EHDR` from `prctl(PR_GET_AUXV)`, else from `/proc/self/auxv`.
fn sysinfo_ehdr() -> Option<usize> {
    let mut auxv = [0usize; 128];
    let size = core::mem::size_of_val(&auxv);
    let ptr = auxv.as_mut_ptr() as usize;
    // SAFETY: the kernel writes at most `size` bytes into `auxv`, which is ours to write.
    let r = unsafe { arch::syscall5(nr(k::__NR_prctl), PR_GET_AUXV, ptr, size, 0, 0) };
    let got = match Errno::result(r) {
        Ok(total) => total.min(size),
        Err(_) => read_proc_auxv(&mut auxv)?,
    };
    let words = &auxv[..got / core::mem::size_of::<usize>()];
    let mut pairs = words.chunks_exact(2);
    pairs
        .find(|pair| pair[0] == AT_SYSINFO_EHDR || pair[0] == 0)
        .filter(|pair| pair[0] == AT_SYSINFO_EHDR && pair[1] != 0)
        .map(|pair| pair[1])
}

/// Reads `/proc/self/auxv` into `auxv`; returns the bytes read.
fn read_proc_auxv(auxv: &mut [usize; 128]) -> Option<usize> {
    let path = b"/proc/self/auxv\0";
    let flags = (k::O_RDONLY | k::O_CLOEXEC) as usize;
    let at_cwd = k::AT_FDCWD as isize as usize;
    // SAFETY: the kernel reads a NUL-terminated path from `path`; openat takes no other
    // pointer.
    let r = unsafe {
        arch::syscall4_readonly(nr(k::__NR_openat), at_cwd, path.as_ptr() as usize, flags, 0)
    };
    let fd = Errno::result(r).and_then(owned).ok()?;
    let size = core::mem::size_of_val(auxv);
    let ptr = auxv.as_mut_ptr().cast::<u8>();
    let mut got = 0;
    while got < size {
        let fd = fd.as_raw_fd() as usize;
        // SAFETY: the kernel writes at most `size - got` bytes at `ptr + got`, the unfilled
        // rest of `auxv`, which is ours to write.
        let r = unsafe { arch::syscall3(nr(k::__NR_read), fd, ptr as usize + got, size - got) };
        match Errno::result(r) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => {}
            Err(_) => return None,
        }
    }
    Some(got)
}

/// The least the kernel maps at `AT_SYSINFO_EHDR`: where the headers must lie.
const FIRST_PAGE: usize = 4096;
/// An image larger than this is not a vDSO (today's are two to three pages).
const MAX_IMAGE: usize = 1 << 20;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PF_X: u32 = 1;
const DT_NULL: u64 = 0;
const DT_HASH: u64 = 4;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_SYMENT: u64 = 11;
const DT_GNU_HASH: u64 = 0x6fff_fef5;
const DT_VERSYM: u64 = 0x6fff_fff0;
const DT_VERDEF: u64 = 0x6fff_fffc;
const DT_VERDEFNUM: u64 = 0x6fff_fffd;
const SYM_SIZE: usize = 24;
const STT_FUNC: u8 = 2;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;
const VER_FLG_BASE: u16 = 1;
/// Bounds on the walks, whatever the image claims.
const MAX_SYMBOLS: usize = 4096;
const MAX_VERDEFS: usize = 64;

/// The loaded image: `len` readable bytes from `base`, its segment linked at `vaddr`.
struct Image {
    base: *const u8,
    len: usize,
    vaddr: u64,
}

impl Image {
    /// Checks the ELF and program headers (within the first page) and takes the size of the
    /// executable segment at file offset 0.
    ///
    /// `base` must be readable for 4 KiB, and for the segment's size if that is larger: the
    /// kernel's vDSO is (callers pass nothing else).
    fn at(base: *const u8) -> Option<Image> {
        let head = Image {
            base,
            len: FIRST_PAGE,
            vaddr: 0,
        };
        let ident: [u8; 8] = head.bytes(0)?;
        // 64-bit, little-endian, version 1, with this machine's number.
        let le = cfg!(target_endian = "little");
        if ident[..4] != *b"\x7fELF" || ident[4] != 2 || ident[5] != 1 + u8::from(!le) {
            return None;
        }
        if head.u16(18)? != WANT.2 {
            return None;
        }
        let (phoff, phentsize, phnum) = (head.u64(32)?, head.u16(54)?, head.u16(56)?);
        if phentsize != 56 {
            return None;
        }
        let mut image = None;
        for i in 0..usize::from(phnum) {
            let ph = usize::try_from(phoff).ok()?.checked_add(i * 56)?;
            let (kind, flags, offset) = (head.u32(ph)?, head.u32(ph + 4)?, head.u64(ph + 8)?);
            let (vaddr, filesz, memsz) =
                (head.u64(ph + 16)?, head.u64(ph + 32)?, head.u64(ph + 40)?);
            if kind == PT_LOAD && offset == 0 && flags & PF_X != 0 {
                let len = usize::try_from(filesz.min(memsz)).ok()?;
                if !(64..=MAX_IMAGE).contains(&len) {
                    return None;
                }
                image = Some(Image { base, len, vaddr });
                break;
            }
        }
        image
    }

    /// `N` bytes at offset `at`, if all of them are inside the image.
    fn bytes<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        if at.checked_add(N)? > self.len {
            return None;
        }
        // SAFETY: `[at, at + N)` lies inside the image the kernel mapped readable at `base`
        // (checked just above); a byte array has no alignment or validity requirement.
        Some(unsafe { core::ptr::read_unaligned(self.base.add(at).cast::<[u8; N]>()) })
    }

    fn u16(&self, at: usize) -> Option<u16> {
        self.bytes(at).map(u16::from_ne_bytes)
    }

    fn u32(&self, at: usize) -> Option<u32> {
        self.bytes(at).map(u32::from_ne_bytes)
    }

    fn u64(&self, at: usize) -> Option<u64> {
        self.bytes(at).map(u64::from_ne_bytes)
    }

    /// The offset in the image of link-time address `vaddr`.
    fn offset(&self, vaddr: u64) -> Option<usize> {
        let at = usize::try_from(vaddr.checked_sub(self.vaddr)?).ok()?;
        (at < self.len).then_some(at)
    }

    /// Whether the NUL-terminated string at `at` is `want`.
    fn str_is(&self, at: usize, want: &[u8]) -> bool {
        let matches = want
            .iter()
            .enumerate()
            .all(|(i, &b)| at.checked_add(i).and_then(|a| self.bytes::<1>(a)) == Some([b]));
        matches && at.checked_add(want.len()).and_then(|a| self.bytes::<1>(a)) == Some([0])
    }

    /// The address of the defined global function `name` of version `version`.
    fn find(&self, name: &[u8], version: &[u8]) -> Option<usize> {
        let dynamic = self.dynamic()?;
        let nsyms = self.symbol_count(&dynamic)?.min(MAX_SYMBOLS);
        for i in 0..nsyms {
            let sym = dynamic.symtab.checked_add(i.checked_mul(SYM_SIZE)?)?;
            let (st_name, st_info) = (self.u32(sym)?, self.bytes::<1>(sym + 4)?[0]);
            let (shndx, value) = (self.u16(sym + 6)?, self.u64(sym + 8)?);
            let bind = st_info >> 4;
            if st_info & 0xf != STT_FUNC || !(bind == STB_GLOBAL || bind == STB_WEAK) {
                continue;
            }
            let name_at = dynamic.strtab.checked_add(st_name as usize)?;
            if shndx == 0 || !self.str_is(name_at, name) {
                continue;
            }
            if !self.has_version(&dynamic, i, version) {
                continue;
            }
            return Some(self.base as usize + self.offset(value)?);
        }
        None
    }

    /// The entries of `PT_DYNAMIC` this parse needs, as image offsets.
    fn dynamic(&self) -> Option<Dynamic> {
        let (phoff, phnum) = (self.u64(32)?, self.u16(56)?);
        let mut at = None;
        for i in 0..usize::from(phnum) {
            let ph = usize::try_from(phoff).ok()?.checked_add(i * 56)?;
            if self.u32(ph)? == PT_DYNAMIC {
                at = Some(usize::try_from(self.u64(ph + 8)?).ok()?);
            }
        }
        let mut at = at?;
        let mut d = Dynamic::default();
        let (mut symtab, mut strtab) = (None, None);
        loop {
            let (tag, value) = (self.u64(at)?, self.u64(at + 8)?);
            match tag {
                DT_NULL => break,
                DT_HASH => d.hash = Some(self.offset(value)?),
                DT_GNU_HASH => d.gnu_hash = Some(self.offset(value)?),
                DT_SYMTAB => symtab = Some(self.offset(value)?),
                DT_STRTAB => strtab = Some(self.offset(value)?),
                DT_SYMENT if value != SYM_SIZE as u64 => return None,
                DT_VERSYM => d.versym = Some(self.offset(value)?),
                DT_VERDEF => d.verdef = Some(self.offset(value)?),
                DT_VERDEFNUM => d.verdefnum = usize::try_from(value).ok()?,
                _ => {}
            }
            at = at.checked_add(16)?;
        }
        d.symtab = symtab?;
        d.strtab = strtab?;
        Some(d)
    }

    /// How many symbols the table holds: `nchain` of `DT_HASH`, or one past the last symbol
    /// a `DT_GNU_HASH` chain reaches.
    fn symbol_count(&self, d: &Dynamic) -> Option<usize> {
        if let Some(hash) = d.hash {
            return usize::try_from(self.u32(hash.checked_add(4)?)?).ok();
        }
        let gnu = d.gnu_hash?;
        let (nbuckets, symoffset) = (self.u32(gnu)? as usize, self.u32(gnu + 4)? as usize);
        let bloom_words = self.u32(gnu + 8)? as usize;
        let buckets = gnu
            .checked_add(16)?
            .checked_add(bloom_words.checked_mul(8)?)?;
        let chains = buckets.checked_add(nbuckets.checked_mul(4)?)?;
        let mut last = 0;
        for b in 0..nbuckets.min(MAX_SYMBOLS) {
            last = last.max(self.u32(buckets + b * 4)? as usize);
        }
        if last < symoffset {
            return Some(symoffset);
        }
        // Walk the last bucket's chain to its end (the low bit marks the last entry).
        for _ in 0..MAX_SYMBOLS {
            let entry = chains.checked_add((last - symoffset).checked_mul(4)?)?;
            if self.u32(entry)? & 1 != 0 {
                return Some(last + 1);
            }
            last += 1;
        }
        None
    }

    /// Whether symbol `i` has version `version` (an image without versions has any).
    fn has_version(&self, d: &Dynamic, i: usize, version: &[u8]) -> bool {
        let (Some(versym), Some(verdef)) = (d.versym, d.verdef) else {
            return d.versym.is_none();
        };
        let Some(ver) = i
            .checked_mul(2)
            .and_then(|o| versym.checked_add(o))
            .and_then(|at| self.u16(at))
        else {
            return false;
        };
        let mut at = verdef;
        for _ in 0..d.verdefnum.min(MAX_VERDEFS) {
            let (Some(flags), Some(ndx), Some(aux), Some(next)) = (
                self.u16(at + 2),
                self.u16(at + 4),
                self.u32(at + 12),
                self.u32(at + 16),
            ) else {
                return false;
            };
            if flags & VER_FLG_BASE == 0 && ndx & 0x7fff == ver & 0x7fff {
                let name = at
                    .checked_add(aux as usize)
                    .and_then(|aux| self.u32(aux))
                    .and_then(|name| d.strtab.checked_add(name as usize));
                return name.is_some_and(|name| self.str_is(name, version));
            }
            match at.checked_add(next as usize) {
                Some(n) if next != 0 => at = n,
                _ => return false,
            }
        }
        false
    }
}

#[derive(Default)]
struct Dynamic {
    hash: Option<usize>,
    gnu_hash: Option<usize>,
    symtab: usize,
    strtab: usize,
    versym: Option<usize>,
    verdef: Option<usize>,
    verdefnum: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    const CODE: usize = 0x400;
    const LEN: usize = 4096;

    fn put(image: &mut [u8], at: usize, bytes: &[u8]) {
        image[at..at + bytes.len()].copy_from_slice(bytes);
    }

    /// A vDSO-like image: one executable PT_LOAD, a PT_DYNAMIC, a symbol table with an
    /// unrelated symbol and this arch's `clock_gettime` (version 2), a version table, and
    /// either a `DT_HASH` or a `DT_GNU_HASH`.
    fn image(gnu: bool, version: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; LEN];
        put(&mut m, 0, b"\x7fELF\x02\x01\x01");
        put(&mut m, 18, &WANT.2.to_ne_bytes());
        put(&mut m, 32, &64u64.to_ne_bytes());
        put(&mut m, 54, &56u16.to_ne_bytes());
        put(&mut m, 56, &2u16.to_ne_bytes());
        // PT_LOAD r-x at 0, the whole image; PT_DYNAMIC at 176.
        put(&mut m, 64, &PT_LOAD.to_ne_bytes());
        put(&mut m, 68, &5u32.to_ne_bytes());
        put(&mut m, 64 + 32, &(LEN as u64).to_ne_bytes());
        put(&mut m, 64 + 40, &(LEN as u64).to_ne_bytes());
        put(&mut m, 120, &PT_DYNAMIC.to_ne_bytes());
        put(&mut m, 120 + 8, &176u64.to_ne_bytes());
        put(&mut m, 120 + 16, &176u64.to_ne_bytes());
        let (hash, symtab, versym, verdef, strtab) = (320, 344, 416, 424, 480);
        let dynamic: [(u64, u64); 8] = [
            (if gnu { DT_GNU_HASH } else { DT_HASH }, hash),
            (DT_STRTAB, strtab),
            (DT_SYMTAB, symtab),
            (DT_SYMENT, 24),
            (DT_VERSYM, versym),
            (DT_VERDEF, verdef),
            (DT_VERDEFNUM, 2),
            (DT_NULL, 0),
        ];
        for (i, (tag, value)) in dynamic.iter().enumerate() {
            put(&mut m, 176 + i * 16, &tag.to_ne_bytes());
            put(&mut m, 176 + i * 16 + 8, &value.to_ne_bytes());
        }
        if gnu {
            // 1 bucket, symbols from 1, one bloom word; bucket 0 starts at symbol 1; the
            // chain ends at symbol 2.
            for (i, w) in [1u32, 1, 1, 0].iter().enumerate() {
                put(&mut m, 320 + i * 4, &w.to_ne_bytes());
            }
            put(&mut m, 320 + 24, &1u32.to_ne_bytes());
            put(&mut m, 320 + 28, &2u32.to_ne_bytes());
            put(&mut m, 320 + 32, &3u32.to_ne_bytes());
        } else {
            put(&mut m, 320, &1u32.to_ne_bytes());
            put(&mut m, 324, &3u32.to_ne_bytes());
        }
        // Strings: "\0other\0<name>\0linux-vdso.so.1\0<version>\0".
        let mut strings = vec![0u8];
        let other = strings.len();
        strings.extend_from_slice(b"other\0");
        let name = strings.len();
        strings.extend_from_slice(WANT.0);
        strings.push(0);
        let soname = strings.len();
        strings.extend_from_slice(b"linux-vdso.so.1\0");
        let ver = strings.len();
        strings.extend_from_slice(version);
        strings.push(0);
        put(&mut m, strtab as usize, &strings);
        // Symbols 1 and 2: global functions at CODE (a sort of alias), versions 2.
        for (i, st_name) in [(1, other), (2, name)] {
            let sym = symtab as usize + i * 24;
            put(&mut m, sym, &(st_name as u32).to_ne_bytes());
            m[sym + 4] = STB_GLOBAL << 4 | STT_FUNC;
            put(&mut m, sym + 6, &7u16.to_ne_bytes());
            put(&mut m, sym + 8, &(CODE as u64).to_ne_bytes());
            put(&mut m, versym as usize + i * 2, &2u16.to_ne_bytes());
        }
        // Verdef 1: the base (the soname); verdef 2: the version.
        for (i, (flags, ndx, name, next)) in [(1u16, 1u16, soname, 28u32), (0, 2, ver, 0)]
            .into_iter()
            .enumerate()
        {
            let at = verdef as usize + i * 28;
            put(&mut m, at, &1u16.to_ne_bytes());
            put(&mut m, at + 2, &flags.to_ne_bytes());
            put(&mut m, at + 4, &ndx.to_ne_bytes());
            put(&mut m, at + 6, &1u16.to_ne_bytes());
            put(&mut m, at + 12, &20u32.to_ne_bytes());
            put(&mut m, at + 16, &next.to_ne_bytes());
            put(&mut m, at + 20, &(name as u32).to_ne_bytes());
        }
        m
    }

    fn find_in(m: &[u8]) -> Option<usize> {
        assert!(m.len() >= FIRST_PAGE);
        Image::at(m.as_ptr())?.find(WANT.0, WANT.1)
    }

    #[test]
    fn finds_the_versioned_function_through_either_hash_table() {
        for gnu in [false, true] {
            let m = image(gnu, WANT.1);
            assert_eq!(find_in(&m), Some(m.as_ptr() as usize + CODE), "gnu {gnu}");
            let parsed = Image::at(m.as_ptr()).unwrap();
            assert_eq!(
                parsed.find(b"other", WANT.1),
                Some(m.as_ptr() as usize + CODE)
            );
            assert_eq!(parsed.find(b"absent", WANT.1), None);
            // Another version of the same name is not it.
            assert_eq!(find_in(&image(gnu, b"LINUX_9")), None);
        }
    }

    #[test]
    fn refuses_images_that_are_not_this_machines_vdso() {
        let good = image(false, WANT.1);
        let mut m = good.clone();
        m[0] = 0;
        assert_eq!(find_in(&m), None, "no ELF magic");
        let mut m = good.clone();
        m[18] ^= 0xff;
        assert_eq!(find_in(&m), None, "another machine");
        let mut m = good.clone();
        // The symbol's address outside the image.
        put(&mut m, 344 + 48 + 8, &(LEN as u64).to_ne_bytes());
        assert_eq!(find_in(&m), None, "address outside");
        let mut m = good.clone();
        // Undefined.
        put(&mut m, 344 + 48 + 6, &0u16.to_ne_bytes());
        assert_eq!(find_in(&m), None, "undefined");
        let mut m = good;
        m[68] = 4; // the segment is not executable
        assert_eq!(find_in(&m), None, "not executable");
    }

    /// Every byte of the headers and tables changed at random, many times over: the parse
    /// ends, never panics, and (under Miri, which checks every read against the buffer)
    /// never reads outside the image. The segment's size is kept: it is what says how much
    /// may be read.
    #[test]
    fn survives_odd_images() {
        let rounds = if cfg!(miri) { 40 } else { 3_000 };
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..rounds {
            let mut m = image(round % 2 == 0, WANT.1);
            let flips = 1 + next() % 8;
            for _ in 0..flips {
                let at = (next() % 600) as usize;
                m[at] = next() as u8;
            }
            put(&mut m, 64 + 32, &(LEN as u64).to_ne_bytes());
            put(&mut m, 64 + 40, &(LEN as u64).to_ne_bytes());
            if let Some(addr) = find_in(&m) {
                assert!((m.as_ptr() as usize..m.as_ptr() as usize + LEN).contains(&addr));
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no vDSO")]
    fn this_process_vdso_if_any_has_the_clock() {
        match clock_gettime() {
            Some(f) => {
                let mut ts = k::__kernel_timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: as in `time::clock_vdso`.
                assert_eq!(unsafe { f(k::CLOCK_MONOTONIC as i32, &mut ts) }, 0);
                assert!(ts.tv_sec > 0 || ts.tv_nsec > 0);
            }
            None => std::println!("no vDSO here (qemu-user before 8.1, valgrind)"),
        }
    }
}
