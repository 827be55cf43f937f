//! The native Rust baseline of the benchmark kernel suite (`plugins/kernels.wat`), computing
//! exactly what that file's header defines, so every engine's result can be checked against it.
//!
//! This file is **not** a module of `kplug-silicon`: `build.rs` compiles it on its own, as a
//! `no_std` object for `i686-unknown-linux-gnu` with `-C target-cpu=pentium` (the board's CPU
//! class: no SSE, no `cmov`, the class the JIT targets), and links it into the harness. Each
//! kernel is an `extern "C"` function over the same linear-memory image and offsets the wasm
//! kernels use (`memory` is the base of a buffer of `memory_bytes` bytes). The code is plain,
//! idiomatic Rust: slices, iterators and checked indexing (the checks LLVM cannot remove stay,
//! as they would in any Rust program). A failed check would panic through `core`'s panic
//! functions, which the final link resolves against the same sysroot `core` as the harness;
//! the harness never passes out-of-range offsets.
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

/// 32-bit FNV-1a.
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
        entry.copy_from_slice(&value.to_le_bytes());
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
        *entry = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let mut crc = u32::MAX;
    for &byte in region(memory, ptr, len) {
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
        let (low, high) = memory.split_at_mut(dst);
        Some((low.get(src..src + src_len)?, high.get_mut(..dst_len)?))
    } else if src >= dst.checked_add(dst_len)? {
        let (low, high) = memory.split_at_mut(src);
        Some((high.get(..src_len)?, low.get_mut(dst..dst + dst_len)?))
    } else {
        None
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
        let luma = 77 * u32::from(pixel[0]) + 150 * u32::from(pixel[1]) + 29 * u32::from(pixel[2]);
        *out = (luma >> 8) as u8;
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
    for (row, out_row) in output.chunks_exact_mut(out_width).enumerate() {
        let top = &input[2 * row * width..];
        let bottom = &input[(2 * row + 1) * width..];
        for (column, out) in out_row.iter_mut().enumerate() {
            let sum = u32::from(top[2 * column])
                + u32::from(top[2 * column + 1])
                + u32::from(bottom[2 * column])
                + u32::from(bottom[2 * column + 1]);
            *out = ((sum + 2) >> 2) as u8;
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
        output.copy_from_slice(input);
        return fnv1a(output);
    }
    output[..width].copy_from_slice(&input[..width]);
    let last = (height - 1) * width;
    output[last..].copy_from_slice(&input[last..]);
    for row in 1..height - 1 {
        let start = row * width;
        let above = &input[start - width..start];
        let here = &input[start..start + width];
        let below = &input[start + width..start + 2 * width];
        let out = &mut output[start..start + width];
        out[0] = here[0];
        out[width - 1] = here[width - 1];
        for (((out, above), here), below) in out[1..width - 1]
            .iter_mut()
            .zip(above.windows(3))
            .zip(here.windows(3))
            .zip(below.windows(3))
        {
            let sum = u32::from(above[0])
                + 2 * u32::from(above[1])
                + u32::from(above[2])
                + 2 * u32::from(here[0])
                + 4 * u32::from(here[1])
                + 2 * u32::from(here[2])
                + u32::from(below[0])
                + 2 * u32::from(below[1])
                + u32::from(below[2]);
            *out = ((sum + 8) >> 4) as u8;
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
    for (tap, bytes) in taps
        .iter_mut()
        .zip(memory[FIR_TAPS..FIR_TAPS + 2 * FIR_TAP_COUNT].chunks_exact(2))
    {
        *tap = i32::from(i16::from_le_bytes([bytes[0], bytes[1]]));
    }
    let count = count as usize;
    let Some((input, output)) = split_regions(memory, src, 2 * count, dst, 2 * count) else {
        return 0;
    };
    for (index, out) in output.chunks_exact_mut(2).enumerate() {
        let reach = (index + 1).min(FIR_TAP_COUNT);
        // x[index], x[index - 1], ... against h[0], h[1], ...
        let window = &input[2 * (index + 1 - reach)..2 * (index + 1)];
        let sum: i32 = window
            .chunks_exact(2)
            .rev()
            .zip(taps.iter())
            .map(|(sample, &tap)| tap * i32::from(i16::from_le_bytes([sample[0], sample[1]])))
            .sum();
        out.copy_from_slice(&((sum >> 15) as i16).to_le_bytes());
    }
    fnv1a(output)
}

/// Sifts `root` down the max-heap `heap[..end]`.
fn sift_down(heap: &mut [i32], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && heap[child] < heap[child + 1] {
            child += 1;
        }
        if heap[root] >= heap[child] {
            return;
        }
        heap.swap(root, child);
        root = child;
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
            values.swap(0, end);
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
