//! The native Rust baseline of the benchmark kernel suite (`plugins/kernels.wat`), computing
//! exactly what that file's header defines, so every engine's result can be checked against it.
//!
//! This file is **not** a module of `kplug-silicon`: `build.rs` compiles it on its own, as a
//! `no_std` object for `i686-unknown-linux-gnu` with `-C target-cpu=pentium` (the board's CPU
//! class: no SSE, no `cmov`, the class the JIT targets), and links it into the harness. Each
//! kernel is an `extern "C"` function over the same linear-memory image and offsets the wasm
//! kernels use (`memory` is the base of a buffer of `memory_bytes` bytes). The code is plain
//! Rust over slices and iterators, with every access checked; a check that fails makes the
//! kernel return 0 (which the bench reports as a mismatch) instead of panicking, so the object
//! references no symbol of `core` (its panic functions are not visible to a linker once the
//! harness is built with LTO). `build.rs` checks that the object's only undefined symbols are
//! the C memory functions.
#![no_std]
#![allow(clippy::missing_safety_doc)]

use core::slice;

/// LCG multiplier (Numerical Recipes), as in the kernels' `fill`.
const LCG_MULTIPLIER: u32 = 1_664_525;
/// LCG increment.
const LCG_INCREMENT: u32 = 1_013_904_223;
/// FNV-1a offset basis (32-bit).
const FNV_BASIS: u32 = 0x811C_9DC5;
/// FNV-1a prime (32-bit).
const FNV_PRIME: u32 = 0x0100_0193;
/// CRC-32 (ISO-HDLC) reflected polynomial.
const CRC_POLYNOMIAL: u32 = 0xEDB8_8320;
/// Where the CRC table lives in the kernels' memory.
const CRC_TABLE: usize = 0x0000;
/// Where the FIR taps live.
const FIR_TAPS: usize = 0x0400;
/// FIR taps.
const FIR_TAP_COUNT: usize = 16;

/// The whole memory image as a slice.
///
/// # Safety
///
/// `memory` must point at `memory_bytes` bytes that are valid and not aliased for the call.
unsafe fn image<'a>(memory: *mut u8, memory_bytes: u32) -> &'a mut [u8] {
    // SAFETY: the caller's contract.
    unsafe { slice::from_raw_parts_mut(memory, memory_bytes as usize) }
}

/// `len` bytes at `at`, or an empty slice if out of bounds (the harness never passes such).
fn region(memory: &[u8], at: u32, len: u32) -> &[u8] {
    let start = at as usize;
    let end = start.saturating_add(len as usize);
    memory.get(start..end).unwrap_or(&[])
}

/// Mutable twin of [`region`].
fn region_mut(memory: &mut [u8], at: u32, len: u32) -> &mut [u8] {
    let start = at as usize;
    let end = start.saturating_add(len as usize);
    memory.get_mut(start..end).unwrap_or(&mut [])
}

/// 32-bit FNV-1a. Not inlined: in `kernels.wat` the checksum is a function of its own that the
/// kernels call, and inlined into a kernel its loop competes with the kernel's for the i386's
/// few registers.
#[inline(never)]
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_BASIS, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// `fill(ptr, len, seed) -> len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_fill(
    memory: *mut u8,
    memory_bytes: u32,
    ptr: u32,
    len: u32,
    seed: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let mut state = seed;
    for byte in region_mut(memory, ptr, len) {
        state = state.wrapping_mul(LCG_MULTIPLIER).wrapping_add(LCG_INCREMENT);
        *byte = (state >> 24) as u8;
    }
    len
}

/// `checksum(ptr, len) -> hash`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_checksum(
    memory: *mut u8,
    memory_bytes: u32,
    ptr: u32,
    len: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    fnv1a(region(memory, ptr, len))
}

/// `crc32_bitwise(ptr, len) -> crc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_crc32_bitwise(
    memory: *mut u8,
    memory_bytes: u32,
    ptr: u32,
    len: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let mut crc = u32::MAX;
    for &byte in region(memory, ptr, len) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (CRC_POLYNOMIAL & 0u32.wrapping_sub(crc & 1));
        }
    }
    !crc
}

/// Writes the CRC-32 table at [`CRC_TABLE`] (what the wasm module's start function does).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_build_crc_table(memory: *mut u8, memory_bytes: u32) {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let table = region_mut(memory, CRC_TABLE as u32, 256 * 4);
    for (index, entry) in table.chunks_exact_mut(4).enumerate() {
        let mut value = index as u32;
        for _ in 0..8 {
            value = (value >> 1) ^ (CRC_POLYNOMIAL & 0u32.wrapping_sub(value & 1));
        }
        for (byte, value) in entry.iter_mut().zip(value.to_le_bytes()) {
            *byte = value;
        }
    }
}

/// `crc32_table(ptr, len) -> crc`, with the table in memory at [`CRC_TABLE`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_crc32_table(
    memory: *mut u8,
    memory_bytes: u32,
    ptr: u32,
    len: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let mut table = [0u32; 256];
    for (entry, bytes) in table
        .iter_mut()
        .zip(region(memory, CRC_TABLE as u32, 256 * 4).chunks_exact(4))
    {
        if let &[a, b, c, d] = bytes {
            *entry = u32::from_le_bytes([a, b, c, d]);
        }
    }
    let mut crc = u32::MAX;
    for &byte in region(memory, ptr, len) {
        // The index is masked to 0..=255: always inside the table.
        crc = table[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The input region at `src` and the output region at `dst` of one memory image, which must
/// not overlap (`None` if they do or either is out of bounds).
fn split_regions(
    memory: &mut [u8],
    src: u32,
    src_len: usize,
    dst: u32,
    dst_len: usize,
) -> Option<(&[u8], &mut [u8])> {
    let (src, dst) = (src as usize, dst as usize);
    if dst >= src.checked_add(src_len)? {
        let (low, high) = memory.split_at_mut_checked(dst)?;
        Some((low.get(src..src + src_len)?, high.get_mut(..dst_len)?))
    } else if src >= dst.checked_add(dst_len)? {
        let (low, high) = memory.split_at_mut_checked(src)?;
        Some((high.get(..src_len)?, low.get_mut(dst..dst + dst_len)?))
    } else {
        None
    }
}

/// Copies `from` into `to` (as many bytes as the shorter has).
fn copy(to: &mut [u8], from: &[u8]) {
    for (to, from) in to.iter_mut().zip(from) {
        *to = *from;
    }
}

/// `rgb_to_gray(src, dst, pixels) -> hash of the gray bytes`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_rgb_to_gray(
    memory: *mut u8,
    memory_bytes: u32,
    src: u32,
    dst: u32,
    pixels: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let pixels = pixels as usize;
    let Some((rgb, gray)) = split_regions(memory, src, 3 * pixels, dst, pixels) else {
        return 0;
    };
    for (out, pixel) in gray.iter_mut().zip(rgb.chunks_exact(3)) {
        if let &[red, green, blue] = pixel {
            let luma = 77 * u32::from(red) + 150 * u32::from(green) + 29 * u32::from(blue);
            *out = (luma >> 8) as u8;
        }
    }
    fnv1a(gray)
}

/// `downscale2x(src, dst, width, height) -> hash` (2x2 box filter).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_downscale2x(
    memory: *mut u8,
    memory_bytes: u32,
    src: u32,
    dst: u32,
    width: u32,
    height: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let (width, height) = (width as usize, height as usize);
    let (out_width, out_height) = (width / 2, height / 2);
    let Some((input, output)) =
        split_regions(memory, src, width * height, dst, out_width * out_height)
    else {
        return 0;
    };
    if out_width == 0 || out_height == 0 {
        return fnv1a(output);
    }
    // Both are at least 1 here; `max` says so to the compiler (chunks of 0 would panic).
    let mut rows = input.chunks_exact(width.max(1));
    for out_row in output.chunks_exact_mut(out_width.max(1)) {
        let (Some(top), Some(bottom)) = (rows.next(), rows.next()) else {
            return 0;
        };
        for ((out, top), bottom) in out_row
            .iter_mut()
            .zip(top.chunks_exact(2))
            .zip(bottom.chunks_exact(2))
        {
            if let (&[a, b], &[c, d]) = (top, bottom) {
                let sum = u32::from(a) + u32::from(b) + u32::from(c) + u32::from(d);
                *out = ((sum + 2) >> 2) as u8;
            }
        }
    }
    fnv1a(output)
}

/// `conv3x3(src, dst, width, height) -> hash` (Gaussian 3x3 on interior pixels, borders
/// copied, images under 3x3 copied whole).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_conv3x3(
    memory: *mut u8,
    memory_bytes: u32,
    src: u32,
    dst: u32,
    width: u32,
    height: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let (width, height) = (width as usize, height as usize);
    let Some((input, output)) = split_regions(memory, src, width * height, dst, width * height)
    else {
        return 0;
    };
    if width < 3 || height < 3 {
        copy(output, input);
        return fnv1a(output);
    }
    let rows = input.chunks_exact(width);
    let mut out_rows = output.chunks_exact_mut(width);
    // First and last rows are copied.
    if let (Some(out), Some(first)) = (out_rows.next(), input.get(..width)) {
        copy(out, first);
    }
    if let (Some(out), Some(last)) = (out_rows.next_back(), rows.clone().next_back()) {
        copy(out, last);
    }
    let windows = rows.clone().zip(rows.clone().skip(1)).zip(rows.skip(2));
    for (out, ((above, here), below)) in out_rows.zip(windows) {
        // First and last columns are copied.
        if let (Some(out), Some(pixel)) = (out.first_mut(), here.first()) {
            *out = *pixel;
        }
        if let (Some(out), Some(pixel)) = (out.last_mut(), here.last()) {
            *out = *pixel;
        }
        let Some(interior) = out.get_mut(1..width - 1) else {
            return 0;
        };
        for (((out, above), here), below) in interior
            .iter_mut()
            .zip(above.windows(3))
            .zip(here.windows(3))
            .zip(below.windows(3))
        {
            if let (&[a0, a1, a2], &[h0, h1, h2], &[b0, b1, b2]) = (above, here, below) {
                let sum = u32::from(a0)
                    + 2 * u32::from(a1)
                    + u32::from(a2)
                    + 2 * u32::from(h0)
                    + 4 * u32::from(h1)
                    + 2 * u32::from(h2)
                    + u32::from(b0)
                    + 2 * u32::from(b1)
                    + u32::from(b2);
                *out = ((sum + 8) >> 4) as u8;
            }
        }
    }
    fnv1a(output)
}

/// `fir(src, dst, count) -> hash of the 2*count output bytes` (16 Q15 taps at [`FIR_TAPS`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_fir(
    memory: *mut u8,
    memory_bytes: u32,
    src: u32,
    dst: u32,
    count: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let mut taps = [0i32; FIR_TAP_COUNT];
    let tap_bytes = region(memory, FIR_TAPS as u32, 2 * FIR_TAP_COUNT as u32);
    for (tap, bytes) in taps.iter_mut().zip(tap_bytes.chunks_exact(2)) {
        if let &[low, high] = bytes {
            *tap = i32::from(i16::from_le_bytes([low, high]));
        }
    }
    let count = count as usize;
    let Some((input, output)) = split_regions(memory, src, 2 * count, dst, 2 * count) else {
        return 0;
    };
    for (index, out) in output.chunks_exact_mut(2).enumerate() {
        let reach = (index + 1).min(FIR_TAP_COUNT);
        // x[index], x[index - 1], ... against h[0], h[1], ...
        let Some(window) = input.get(2 * (index + 1 - reach)..2 * (index + 1)) else {
            return 0;
        };
        let sum: i32 = window
            .chunks_exact(2)
            .rev()
            .zip(taps.iter())
            .map(|(sample, &tap)| match *sample {
                [low, high] => tap * i32::from(i16::from_le_bytes([low, high])),
                _ => 0,
            })
            .sum();
        for (byte, value) in out.iter_mut().zip(((sum >> 15) as i16).to_le_bytes()) {
            *byte = value;
        }
    }
    fnv1a(output)
}

/// Sifts `root` down the max-heap `heap[..end]` (`end` at most `heap.len()`).
fn sift_down(heap: &mut [i32], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        let (Some(&root_value), Some(&left)) = (heap.get(root), heap.get(child)) else {
            return;
        };
        let mut child_value = left;
        if child + 1 < end
            && let Some(&right) = heap.get(child + 1)
            && left < right
        {
            child += 1;
            child_value = right;
        }
        if root_value >= child_value {
            return;
        }
        if let Some(slot) = heap.get_mut(root) {
            *slot = child_value;
        }
        if let Some(slot) = heap.get_mut(child) {
            *slot = root_value;
        }
        root = child;
    }
}

/// Swaps `heap[0]` and `heap[end]`.
fn swap_with_first(heap: &mut [i32], end: usize) {
    if let Some((first, rest)) = heap.split_first_mut()
        && let Some(last) = rest.get_mut(end.wrapping_sub(1))
    {
        core::mem::swap(first, last);
    }
}

/// `sort(ptr, count) -> hash of the sorted bytes` (heapsort of i32, ascending, in place). The
/// values must be 4-byte aligned in the image (the harness's image is).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_sort(
    memory: *mut u8,
    memory_bytes: u32,
    ptr: u32,
    count: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let bytes = region_mut(memory, ptr, count.saturating_mul(4));
    // SAFETY: every bit pattern is a valid i32; x86 is little-endian, as wasm memory is.
    let (prefix, values, _) = unsafe { bytes.align_to_mut::<i32>() };
    if !prefix.is_empty() {
        return 0;
    }
    let count = values.len();
    if count >= 2 {
        for root in (0..count / 2).rev() {
            sift_down(values, root, count);
        }
        for end in (1..count).rev() {
            swap_with_first(values, end);
            sift_down(values, 0, end);
        }
    }
    fnv1a(region(memory, ptr, (count * 4) as u32))
}

/// `fib(n)`: naive recursion (`n < 2` compared unsigned).
#[unsafe(no_mangle)]
pub extern "C" fn kplug_native_fib(n: u32) -> u32 {
    if n < 2 {
        n
    } else {
        kplug_native_fib(n - 1).wrapping_add(kplug_native_fib(n - 2))
    }
}

/// One step of the LCG of `fill`.
fn next(state: u32) -> u32 {
    state.wrapping_mul(LCG_MULTIPLIER).wrapping_add(LCG_INCREMENT)
}

/// The protocol's start-of-frame byte.
const SYNC: u8 = 0x7E;
/// The longest payload a frame may declare.
const MAX_PAYLOAD: u8 = 15;

/// `make_frames(ptr, len, seed) -> frames written` (the frame stream of `kernels.wat`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_make_frames(
    memory: *mut u8,
    memory_bytes: u32,
    ptr: u32,
    len: u32,
    seed: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let out = region_mut(memory, ptr, len);
    let mut state = seed;
    let mut at = 0usize;
    let mut frames = 0u32;
    loop {
        state = next(state);
        let r = state;
        let kind = ((r >> 8) & 7) as u8;
        let length = ((r >> 12) & 15) as u8;
        let noise = (r >> 19) & 3 == 0;
        let need = usize::from(length) + 4 + usize::from(noise);
        if need > out.len() - at.min(out.len()) {
            break;
        }
        let mut put = |byte: u8| {
            if let Some(slot) = out.get_mut(at) {
                *slot = byte;
            }
            at += 1;
        };
        if noise {
            put((r >> 24) as u8);
        }
        put(SYNC);
        put(kind);
        put(length);
        let mut check = kind ^ length;
        for _ in 0..length {
            state = next(state);
            let byte = (state >> 24) as u8;
            put(byte);
            check ^= byte;
        }
        if (r >> 16) & 7 == 0 {
            check ^= 0x55;
        }
        put(check);
        frames += 1;
    }
    for slot in out.iter_mut().skip(at) {
        *slot = 0;
    }
    frames
}

/// The receiver's states.
#[derive(Clone, Copy)]
enum Receiver {
    Hunt,
    Type,
    Length,
    Payload,
    Check,
}

/// `parse_frames(ptr, len) -> result` (the receiver of `kernels.wat`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_parse_frames(
    memory: *mut u8,
    memory_bytes: u32,
    ptr: u32,
    len: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let mut state = Receiver::Hunt;
    let (mut kind, mut length, mut remaining, mut check, mut sum) = (0u8, 0u32, 0u32, 0u8, 0u32);
    let (mut errors, mut a0, mut a1, mut a2, mut a3) = (0u32, 0u32, 0u32, 0u32, 0u32);
    for &byte in region(memory, ptr, len) {
        state = match state {
            Receiver::Hunt if byte == SYNC => Receiver::Type,
            Receiver::Hunt => Receiver::Hunt,
            Receiver::Type => {
                kind = byte;
                check = byte;
                Receiver::Length
            }
            Receiver::Length if byte > MAX_PAYLOAD => {
                errors = errors.wrapping_add(1);
                Receiver::Hunt
            }
            Receiver::Length => {
                length = u32::from(byte);
                remaining = length;
                check ^= byte;
                sum = 0;
                if byte == 0 {
                    Receiver::Check
                } else {
                    Receiver::Payload
                }
            }
            Receiver::Payload => {
                check ^= byte;
                sum = sum.wrapping_add(u32::from(byte));
                remaining = remaining.wrapping_sub(1);
                if remaining == 0 {
                    Receiver::Check
                } else {
                    Receiver::Payload
                }
            }
            Receiver::Check => {
                if byte != check {
                    errors = errors.wrapping_add(1);
                } else {
                    match kind & 7 {
                        0 => a0 = a0.wrapping_add(1),
                        1 => a1 = a1.wrapping_add(sum),
                        2 => a2 ^= sum.wrapping_shl(length),
                        3 => a3 = a3.wrapping_mul(31).wrapping_add(length),
                        4 => a0 = a0.wrapping_add(sum.wrapping_mul(3)),
                        5 => a1 ^= length,
                        6 => a2 = a2.wrapping_add(1),
                        _ => a3 ^= sum,
                    }
                }
                Receiver::Hunt
            }
        };
    }
    let combined = a0.wrapping_mul(31).wrapping_add(a1);
    let combined = combined.wrapping_mul(31).wrapping_add(a2);
    combined.wrapping_mul(31).wrapping_add(a3) ^ errors
}

/// PID gains in Q8.
const PID_KP: i32 = 128;
const PID_KI: i32 = 8;
const PID_KD: i32 = 64;
/// Anti-windup limit of the integral (Q16.16).
const PID_INTEGRAL_LIMIT: i32 = 0x40_0000;
/// Actuator limit (Q16.16).
const PID_OUTPUT_LIMIT: i32 = 0x20_0000;

/// `pid(steps, seed) -> hash of the plant's output` (Q16.16, see `kernels.wat`).
#[unsafe(no_mangle)]
pub extern "C" fn kplug_native_pid(steps: u32, seed: u32) -> u32 {
    let mut state = seed;
    let (mut setpoint, mut y, mut previous, mut integral) = (0i32, 0i32, 0i32, 0i32);
    let mut hash = FNV_BASIS;
    for step in 0..steps {
        if step & 255 == 0 {
            state = next(state);
            setpoint = ((state >> 12) & 0xF_FFFF) as i32;
        }
        let error = setpoint.wrapping_sub(y);
        integral = integral
            .wrapping_add(error)
            .clamp(-PID_INTEGRAL_LIMIT, PID_INTEGRAL_LIMIT);
        let proportional = error.wrapping_mul(PID_KP) >> 8;
        let integral_term = integral.wrapping_mul(PID_KI) >> 8;
        let derivative = error.wrapping_sub(previous).wrapping_mul(PID_KD) >> 8;
        previous = error;
        let u = proportional
            .wrapping_add(integral_term)
            .wrapping_add(derivative)
            .clamp(-PID_OUTPUT_LIMIT, PID_OUTPUT_LIMIT);
        y = y.wrapping_add(u.wrapping_sub(y) >> 3);
        hash = (hash ^ y as u32).wrapping_mul(FNV_PRIME);
    }
    hash
}

// ---- the 64-bit and float kernels (`kernels_i64.wat`, `kernels_float.wat`) ----

/// XXH64's primes.
const XXH_P1: u64 = 0x9E37_79B1_85EB_CA87;
const XXH_P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const XXH_P3: u64 = 0x1656_67B1_9E37_79F9;
const XXH_P4: u64 = 0x85EB_CA77_C2B2_AE63;
const XXH_P5: u64 = 0x27D4_EB2F_1656_67C5;

/// A little-endian u64 from the first 8 bytes of `bytes` (0 if shorter; callers pass 8).
fn le_u64(bytes: &[u8]) -> u64 {
    bytes
        .first_chunk::<8>()
        .map_or(0, |chunk| u64::from_le_bytes(*chunk))
}

/// XXH64's accumulator round.
fn xxh_round(accumulator: u64, input: u64) -> u64 {
    accumulator
        .wrapping_add(input.wrapping_mul(XXH_P2))
        .rotate_left(31)
        .wrapping_mul(XXH_P1)
}

/// XXH64's lane merge.
fn xxh_merge(hash: u64, lane: u64) -> u64 {
    (hash ^ xxh_round(0, lane))
        .wrapping_mul(XXH_P1)
        .wrapping_add(XXH_P4)
}

/// XXH64 of `input` with `seed`.
fn xxh64(input: &[u8], seed: u64) -> u64 {
    let mut rest = input;
    let mut hash = if input.len() >= 32 {
        let mut lanes = [
            seed.wrapping_add(XXH_P1).wrapping_add(XXH_P2),
            seed.wrapping_add(XXH_P2),
            seed,
            seed.wrapping_sub(XXH_P1),
        ];
        let mut stripes = input.chunks_exact(32);
        for stripe in &mut stripes {
            for (lane, word) in lanes.iter_mut().zip(stripe.chunks_exact(8)) {
                *lane = xxh_round(*lane, le_u64(word));
            }
        }
        rest = stripes.remainder();
        let [v1, v2, v3, v4] = lanes;
        let mut hash = v1
            .rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18));
        for lane in lanes {
            hash = xxh_merge(hash, lane);
        }
        hash
    } else {
        seed.wrapping_add(XXH_P5)
    };
    hash = hash.wrapping_add(input.len() as u64);
    let mut words = rest.chunks_exact(8);
    for word in &mut words {
        hash ^= xxh_round(0, le_u64(word));
        hash = hash.rotate_left(27).wrapping_mul(XXH_P1).wrapping_add(XXH_P4);
    }
    rest = words.remainder();
    if let Some((word, tail)) = rest.split_first_chunk::<4>() {
        hash ^= u64::from(u32::from_le_bytes(*word)).wrapping_mul(XXH_P1);
        hash = hash.rotate_left(23).wrapping_mul(XXH_P2).wrapping_add(XXH_P3);
        rest = tail;
    }
    for &byte in rest {
        hash ^= u64::from(byte).wrapping_mul(XXH_P5);
        hash = hash.rotate_left(11).wrapping_mul(XXH_P1);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(XXH_P2);
    hash ^= hash >> 29;
    hash = hash.wrapping_mul(XXH_P3);
    hash ^ (hash >> 32)
}

/// `xxhash64(ptr, len, seed) -> low(h ^ (h >> 32))`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_xxhash64(
    memory: *mut u8,
    memory_bytes: u32,
    ptr: u32,
    len: u32,
    seed: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let hash = xxh64(region(memory, ptr, len), u64::from(seed));
    (hash ^ (hash >> 32)) as u32
}

/// The Q31 taps of `kernels_i64.wat`: the Q15 low-pass of `kernels.wat`, times 2^16.
const Q31_TAPS: [i32; FIR_TAP_COUNT] = [
    256 << 16,
    640 << 16,
    1152 << 16,
    1792 << 16,
    2432 << 16,
    3072 << 16,
    3456 << 16,
    3584 << 16,
    3584 << 16,
    3456 << 16,
    3072 << 16,
    2432 << 16,
    1792 << 16,
    1152 << 16,
    640 << 16,
    256 << 16,
];

/// `q31_fir(src, dst, count) -> hash of the 4*count output bytes`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_q31_fir(
    memory: *mut u8,
    memory_bytes: u32,
    src: u32,
    dst: u32,
    count: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let count = count as usize;
    let Some((input, output)) = split_regions(memory, src, 4 * count, dst, 4 * count) else {
        return 0;
    };
    for (index, out) in output.chunks_exact_mut(4).enumerate() {
        let reach = (index + 1).min(FIR_TAP_COUNT);
        let Some(window) = input.get(4 * (index + 1 - reach)..4 * (index + 1)) else {
            return 0;
        };
        let sum: i64 = window
            .chunks_exact(4)
            .rev()
            .zip(Q31_TAPS.iter())
            .map(|(sample, &tap)| match *sample {
                [a, b, c, d] => {
                    i64::from(tap).wrapping_mul(i64::from(i32::from_le_bytes([a, b, c, d])))
                }
                _ => 0,
            })
            .fold(0i64, i64::wrapping_add);
        let value = (sum >> 31).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        copy(out, &value.to_le_bytes());
    }
    fnv1a(output)
}

/// The x87 precision-control field of the FPU control word (Intel SDM vol. 1, 8.1.5.2).
const X87_PRECISION_MASK: u16 = 0b11 << 8;
/// Precision control: 24-bit significand (binary32).
const X87_PRECISION_SINGLE: u16 = 0b00 << 8;
/// Precision control: 53-bit significand (binary64).
const X87_PRECISION_DOUBLE: u16 = 0b10 << 8;

/// Runs `body` with the x87's precision control set to `precision`, then restores the control
/// word. Built for the board's CPU class, Rust's floats live on the x87, whose default
/// precision on Linux is 64 bits: every f32/f64 operation would be rounded to the extended
/// format, not as WebAssembly (IEEE) rounds it. With the precision control at the type's width
/// each operation is rounded as IEEE rounds it as long as no result is subnormal or overflows,
/// which the float kernels' data guarantees. (Built with SSE, the precision control does not
/// apply and IEEE rounding holds anyway.)
fn with_x87_precision<T>(precision: u16, body: impl FnOnce() -> T) -> T {
    let mut saved: u16 = 0;
    // SAFETY: fnstcw stores the control word into `saved`, a live u16.
    unsafe { core::arch::asm!("fnstcw word ptr [{0}]", in(reg) &mut saved, options(nostack)) };
    let wanted = (saved & !X87_PRECISION_MASK) | precision;
    // SAFETY: fldcw loads a control word that differs from the current one only in its
    // precision field; every exception stays masked as it was.
    unsafe { core::arch::asm!("fldcw word ptr [{0}]", in(reg) &wanted, options(nostack)) };
    let result = body();
    // SAFETY: restores the control word read above.
    unsafe { core::arch::asm!("fldcw word ptr [{0}]", in(reg) &saved, options(nostack)) };
    result
}

/// 2^-15, the scale of an i16 sample.
const SAMPLE_SCALE: f32 = 1.0 / 32768.0;

/// One biquad section (direct form I) of `kernels_float.wat`.
#[derive(Default)]
struct Biquad {
    x1: f32,
    x2: f32,
    y1: f32,
    y2: f32,
}

impl Biquad {
    const B0: f32 = 0.067455255;
    const B1: f32 = 0.13491051;
    const B2: f32 = 0.067455255;
    const A1: f32 = -1.1429805;
    const A2: f32 = 0.41280160;

    #[inline(always)]
    fn step(&mut self, x: f32) -> f32 {
        let y = Self::B0 * x + Self::B1 * self.x1 + Self::B2 * self.x2
            - Self::A1 * self.y1
            - Self::A2 * self.y2;
        self.x2 = self.x1;
        self.x1 = x;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// `biquad_f32(src, dst, count) -> hash of the 4*count output bytes`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_biquad_f32(
    memory: *mut u8,
    memory_bytes: u32,
    src: u32,
    dst: u32,
    count: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let count = count as usize;
    let Some((input, output)) = split_regions(memory, src, 2 * count, dst, 4 * count) else {
        return 0;
    };
    with_x87_precision(X87_PRECISION_SINGLE, || {
        let (mut first, mut second) = (Biquad::default(), Biquad::default());
        for (sample, out) in input.chunks_exact(2).zip(output.chunks_exact_mut(4)) {
            let x = match *sample {
                [low, high] => f32::from(i16::from_le_bytes([low, high])) * SAMPLE_SCALE,
                _ => 0.0,
            };
            let y = second.step(first.step(x));
            copy(out, &y.to_le_bytes());
        }
    });
    fnv1a(output)
}

/// Converts the i16 samples of `from` to f64 * 2^-15 into `to` (8 bytes each).
fn samples_to_f64(from: &[u8], to: &mut [u8]) {
    for (sample, out) in from.chunks_exact(2).zip(to.chunks_exact_mut(8)) {
        let value = match *sample {
            [low, high] => f64::from(i16::from_le_bytes([low, high])) * f64::from(SAMPLE_SCALE),
            _ => 0.0,
        };
        copy(out, &value.to_le_bytes());
    }
}

/// A little-endian f64 from the first 8 bytes of `bytes` (0 if shorter).
fn le_f64(bytes: &[u8]) -> f64 {
    f64::from_bits(le_u64(bytes))
}

/// `matmul_f64(src, dst, n) -> hash of C` (A and B from the samples at `src`, stored at `dst`,
/// C after them).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_matmul_f64(
    memory: *mut u8,
    memory_bytes: u32,
    src: u32,
    dst: u32,
    n: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let memory = unsafe { image(memory, memory_bytes) };
    let n = n as usize;
    let square = n * n;
    let Some((input, matrices)) = split_regions(memory, src, 4 * square, dst, 24 * square) else {
        return 0;
    };
    let Some((inputs_a, inputs_b)) = input.split_at_checked(2 * square) else {
        return 0;
    };
    let Some((a, rest)) = matrices.split_at_mut_checked(8 * square) else {
        return 0;
    };
    let Some((b, c)) = rest.split_at_mut_checked(8 * square) else {
        return 0;
    };
    samples_to_f64(inputs_a, a);
    samples_to_f64(inputs_b, b);
    let at = |matrix: &[u8], row: usize, column: usize| {
        le_f64(matrix.get(8 * (row * n + column)..).unwrap_or(&[]))
    };
    with_x87_precision(X87_PRECISION_DOUBLE, || {
        for i in 0..n {
            for j in 0..n {
                let mut sum = 0.0f64;
                for k in 0..n {
                    sum += at(a, i, k) * at(b, k, j);
                }
                if let Some(out) = c.get_mut(8 * (i * n + j)..) {
                    copy(out, &sum.to_le_bytes());
                }
            }
        }
    });
    fnv1a(c)
}

// ---- the bulk-memory kernels (`kernels_bulk.wat`) ----

/// Bytes each bulk-memory kernel copies or sets per repetition.
const BULK_BLOCK: usize = 4096;

/// The check word of a bulk kernel: the dword at `dst` xor the dword at `dst + 4092`.
fn bulk_check(memory: &[u8], dst: u32) -> u32 {
    let block = region(memory, dst, BULK_BLOCK as u32);
    match (block.get(..4), block.get(BULK_BLOCK - 4..)) {
        (Some(first), Some(last)) => {
            let word = |bytes: &[u8]| {
                bytes
                    .iter()
                    .rev()
                    .fold(0u32, |word, &byte| (word << 8) | u32::from(byte))
            };
            word(first) ^ word(last)
        }
        _ => 0,
    }
}

/// `memcpy_4k(dst, src, reps) -> check word`: `reps` calls of the C library's `memcpy` (through
/// `copy_nonoverlapping`), the pointers hidden from the optimiser so that no call is merged
/// away.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_memcpy_4k(
    memory: *mut u8,
    memory_bytes: u32,
    dst: u32,
    src: u32,
    reps: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let image = unsafe { image(memory, memory_bytes) };
    let (from, to) = (src as usize, dst as usize);
    let apart = from.abs_diff(to) >= BULK_BLOCK;
    if !apart || region(image, src, BULK_BLOCK as u32).is_empty()
        || region(image, dst, BULK_BLOCK as u32).is_empty()
    {
        return 0;
    }
    let base = image.as_mut_ptr();
    for _ in 0..reps {
        // SAFETY: both blocks lie inside the image (checked) and do not overlap (checked).
        unsafe {
            core::ptr::copy_nonoverlapping(
                core::hint::black_box(base.add(from)),
                core::hint::black_box(base.add(to)),
                BULK_BLOCK,
            );
        }
    }
    bulk_check(image, dst)
}

/// `memset_4k(dst, value, reps) -> check word`: `reps` calls of the C library's `memset`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kplug_native_memset_4k(
    memory: *mut u8,
    memory_bytes: u32,
    dst: u32,
    value: u32,
    reps: u32,
) -> u32 {
    // SAFETY: forwarded caller contract.
    let image = unsafe { image(memory, memory_bytes) };
    if region(image, dst, BULK_BLOCK as u32).is_empty() {
        return 0;
    }
    let base = image.as_mut_ptr();
    for rep in (1..=reps).rev() {
        // SAFETY: the block lies inside the image (checked).
        unsafe {
            core::ptr::write_bytes(
                core::hint::black_box(base.add(dst as usize)),
                value.wrapping_add(rep) as u8,
                BULK_BLOCK,
            );
        }
    }
    bulk_check(image, dst)
}
