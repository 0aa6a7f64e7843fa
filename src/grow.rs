//! Growth within reserved room. Every vector here grows through `try_reserve` first, so an
//! allocation failure is an error the caller returns, never an abort; these then fill the
//! room without a second, infallible growth path (which would also be linked into every
//! binary, one copy per element type).

use alloc::vec::Vec;

/// Appends `value` if `v` has room for it; gives it back otherwise.
#[inline]
pub(crate) fn push_within<T>(v: &mut Vec<T>, value: T) -> Result<(), T> {
    if v.len() < v.capacity() {
        v.push(value); // the compiler sees the room: no growth path
        Ok(())
    } else {
        Err(value)
    }
}

/// Appends values made by `make` until `v` is `len` long or out of room; whether it got there.
#[inline]
pub(crate) fn fill_within<T>(v: &mut Vec<T>, len: usize, mut make: impl FnMut() -> T) -> bool {
    while v.len() < len {
        if push_within(v, make()).is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_stays_within_the_room_reserved() {
        let mut v: Vec<u8> = Vec::new();
        assert_eq!(push_within(&mut v, 1), Err(1));
        v.try_reserve_exact(3).unwrap();
        let room = v.capacity();
        assert_eq!(push_within(&mut v, 1), Ok(()));
        assert!(fill_within(&mut v, room, || 7));
        assert_eq!(v.len(), room);
        assert!(!fill_within(&mut v, room + 1, || 7));
        assert_eq!((v.len(), v.capacity()), (room, room));
        assert_eq!(v[0], 1);
    }
}
