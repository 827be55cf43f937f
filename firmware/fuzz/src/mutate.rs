//! Byte-level mutations, as libFuzzer's mutators do them: bit flips, interesting bytes,
//! insertions, deletions, truncations, duplications, splices from a donor, and huge LEB128
//! numbers (the declared lengths and counts of wasm and postcard).

use fastrand::Rng;

/// Bytes that tend to sit on boundaries.
const INTERESTING: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x40, 0x20];

/// LEB128 encodings of huge numbers (u32::MAX, 2^31, 2^28, and an overlong 5-byte zero).
const HUGE_LEB128: [&[u8]; 4] = [
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0x80, 0x80, 0x80, 0x80, 0x08],
    &[0x80, 0x80, 0x80, 0x80, 0x01],
    &[0x80, 0x80, 0x80, 0x80, 0x00],
];

/// Applies one to `rounds` random mutations to `bytes`; `donor` (another input) feeds splices.
pub fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, donor: &[u8], rounds: u32) {
    for _ in 0..rng.u32(1..=rounds.max(1)) {
        mutate_once(rng, bytes, donor);
    }
}

fn mutate_once(rng: &mut Rng, bytes: &mut Vec<u8>, donor: &[u8]) {
    let len = bytes.len();
    match rng.u32(..9) {
        0 if len > 0 => {
            let at = rng.usize(..len);
            bytes[at] ^= 1 << rng.u32(..8);
        }
        1 if len > 0 => {
            let at = rng.usize(..len);
            bytes[at] = INTERESTING[rng.usize(..INTERESTING.len())];
        }
        2 => {
            let at = rng.usize(..=len);
            let count = rng.usize(1..=8);
            let insert: Vec<u8> = (0..count).map(|_| rng.u8(..)).collect();
            bytes.splice(at..at, insert);
        }
        3 if len > 0 => {
            let at = rng.usize(..len);
            let end = (at + rng.usize(1..=16)).min(len);
            bytes.drain(at..end);
        }
        4 if len > 0 => bytes.truncate(rng.usize(..len)),
        5 if len > 0 => {
            let at = rng.usize(..len);
            let end = (at + rng.usize(1..=32)).min(len);
            let copy = bytes[at..end].to_vec();
            let to = rng.usize(..=len);
            bytes.splice(to..to, copy);
        }
        6 if !donor.is_empty() => {
            let from = rng.usize(..donor.len());
            let end = (from + rng.usize(1..=64)).min(donor.len());
            let at = rng.usize(..=len);
            let cut = (at + rng.usize(0..=16)).min(len);
            bytes.splice(at..cut, donor[from..end].iter().copied());
        }
        7 => {
            let at = rng.usize(..=len);
            let huge = HUGE_LEB128[rng.usize(..HUGE_LEB128.len())];
            let cut = (at + rng.usize(0..=huge.len())).min(len);
            bytes.splice(at..cut, huge.iter().copied());
        }
        _ if len > 1 => {
            let a = rng.usize(..len);
            let b = rng.usize(..len);
            bytes.swap(a, b);
        }
        _ => bytes.push(rng.u8(..)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mutation is deterministic per seed, changes its input, and copes with empty input.
    #[test]
    fn deterministic_and_effective() {
        let original: Vec<u8> = (0..64).collect();
        let mut changed = 0;
        for seed in 0..200 {
            let mut a = original.clone();
            let mut b = original.clone();
            mutate(&mut Rng::with_seed(seed), &mut a, b"donor bytes", 4);
            mutate(&mut Rng::with_seed(seed), &mut b, b"donor bytes", 4);
            assert_eq!(a, b);
            changed += usize::from(a != original);
            let mut empty = Vec::new();
            mutate(&mut Rng::with_seed(seed), &mut empty, &[], 4);
        }
        assert!(
            changed > 180,
            "only {changed} of 200 mutations changed the input"
        );
    }
}
