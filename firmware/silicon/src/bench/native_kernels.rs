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
