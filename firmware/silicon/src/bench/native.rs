//! Engine (a) of the kernel suite: native Rust, from `native_kernels.rs`, which `build.rs`
//! compiles for the board's CPU class (see [`NATIVE_CPU`]) and links into the harness. The
//! kernels work on their own memory image, one per kernel module, laid out as that module's
//! linear memory and set up the same way (for `kernels.wat`: its data segments, then the CRC
//! table its start function writes; the other modules' native kernels read nothing from memory
//! that their inputs' `fill` did not write).

use super::BenchError;
use super::kernels::Engine;
use kplug_core::CompiledModule;
use plugin_format::plugin::WASM_PAGE_BYTES;

/// The CPU class the native kernels were compiled for (set by `build.rs`).
pub const NATIVE_CPU: &str = env!("KPLUG_NATIVE_CPU");

unsafe extern "C" {
    fn kplug_native_fill(memory: *mut u8, bytes: u32, ptr: u32, len: u32, seed: u32) -> u32;
    fn kplug_native_checksum(memory: *mut u8, bytes: u32, ptr: u32, len: u32) -> u32;
    fn kplug_native_crc32_bitwise(memory: *mut u8, bytes: u32, ptr: u32, len: u32) -> u32;
    fn kplug_native_build_crc_table(memory: *mut u8, bytes: u32);
    fn kplug_native_crc32_table(memory: *mut u8, bytes: u32, ptr: u32, len: u32) -> u32;
    fn kplug_native_rgb_to_gray(memory: *mut u8, bytes: u32, src: u32, dst: u32, n: u32) -> u32;
    fn kplug_native_downscale2x(
        memory: *mut u8,
        bytes: u32,
        src: u32,
        dst: u32,
        width: u32,
        height: u32,
    ) -> u32;
    fn kplug_native_conv3x3(
        memory: *mut u8,
        bytes: u32,
        src: u32,
        dst: u32,
        width: u32,
        height: u32,
    ) -> u32;
    fn kplug_native_fir(memory: *mut u8, bytes: u32, src: u32, dst: u32, count: u32) -> u32;
    fn kplug_native_sort(memory: *mut u8, bytes: u32, ptr: u32, count: u32) -> u32;
    fn kplug_native_fib(n: u32) -> u32;
    fn kplug_native_make_frames(memory: *mut u8, bytes: u32, ptr: u32, len: u32, seed: u32) -> u32;
    fn kplug_native_parse_frames(memory: *mut u8, bytes: u32, ptr: u32, len: u32) -> u32;
    fn kplug_native_pid(steps: u32, seed: u32) -> u32;
    fn kplug_native_xxhash64(memory: *mut u8, bytes: u32, ptr: u32, len: u32, seed: u32) -> u32;
    fn kplug_native_q31_fir(memory: *mut u8, bytes: u32, src: u32, dst: u32, count: u32) -> u32;
    fn kplug_native_biquad_f32(memory: *mut u8, bytes: u32, src: u32, dst: u32, count: u32) -> u32;
    fn kplug_native_matmul_f64(memory: *mut u8, bytes: u32, src: u32, dst: u32, n: u32) -> u32;
    fn kplug_native_memcpy_4k(memory: *mut u8, bytes: u32, dst: u32, src: u32, reps: u32) -> u32;
    fn kplug_native_memset_4k(memory: *mut u8, bytes: u32, dst: u32, value: u32, reps: u32) -> u32;
}

/// The exports the native engine implements, by handle (every kernel module's `fill` and
/// `checksum` are the same functions).
const EXPORTS: [&str; 19] = [
    "fill",
    "checksum",
    "crc32_bitwise",
    "crc32_table",
    "rgb_to_gray",
    "downscale2x",
    "conv3x3",
    "fir",
    "sort",
    "fib",
    "make_frames",
    "parse_frames",
    "pid",
    "xxhash64",
    "q31_fir",
    "biquad_f32",
    "matmul_f64",
    "memcpy_4k",
    "memset_4k",
];

/// The native engine and its memory image.
pub struct Native {
    /// The image, as words so that it is 4-byte aligned like wasm memory in the JIT.
    memory: Vec<u32>,
}

impl Native {
    /// A zeroed image of `pages` pages.
    pub fn new(pages: u32) -> Native {
        let bytes = (pages * WASM_PAGE_BYTES) as usize;
        Native {
            memory: vec![0; bytes / 4],
        }
    }

    /// An image of `pages` pages set up as `kernels.wat` (`module`, compiled) sets up its
    /// memory: its data segments and the CRC table.
    pub fn for_kernels_wat(module: &CompiledModule, pages: u32) -> Native {
        let bytes = (pages * WASM_PAGE_BYTES) as usize;
        let mut native = Native::new(pages);
        let (pointer, size) = native.image();
        for segment in &module.data {
            let end = segment.offset as usize + segment.bytes.len();
            if end <= bytes {
                // SAFETY: the segment lies inside the image (checked).
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        segment.bytes.as_ptr(),
                        pointer.add(segment.offset as usize),
                        segment.bytes.len(),
                    );
                }
            }
        }
        // SAFETY: the image is `size` valid bytes, exclusively ours.
        unsafe { kplug_native_build_crc_table(pointer, size) };
        native
    }

    fn image(&mut self) -> (*mut u8, u32) {
        (
            self.memory.as_mut_ptr().cast::<u8>(),
            (self.memory.len() * 4) as u32,
        )
    }
}

impl Engine for Native {
    fn resolve(&mut self, export: &str) -> Result<usize, BenchError> {
        EXPORTS
            .iter()
            .position(|name| *name == export)
            .ok_or_else(|| BenchError::Call {
                module: "native kernels".into(),
                export: export.into(),
                outcome: "no such kernel".into(),
            })
    }

    fn call(&mut self, handle: usize, args: &[i32]) -> Result<i32, BenchError> {
        let (m, n) = self.image();
        let a = |index: usize| args.get(index).copied().unwrap_or(0) as u32;
        // SAFETY: every kernel gets the whole image (`n` valid, exclusive bytes) and checks its
        // offsets against it.
        let result = unsafe {
            match handle {
                0 => kplug_native_fill(m, n, a(0), a(1), a(2)),
                1 => kplug_native_checksum(m, n, a(0), a(1)),
                2 => kplug_native_crc32_bitwise(m, n, a(0), a(1)),
                3 => kplug_native_crc32_table(m, n, a(0), a(1)),
                4 => kplug_native_rgb_to_gray(m, n, a(0), a(1), a(2)),
                5 => kplug_native_downscale2x(m, n, a(0), a(1), a(2), a(3)),
                6 => kplug_native_conv3x3(m, n, a(0), a(1), a(2), a(3)),
                7 => kplug_native_fir(m, n, a(0), a(1), a(2)),
                8 => kplug_native_sort(m, n, a(0), a(1)),
                9 => kplug_native_fib(a(0)),
                10 => kplug_native_make_frames(m, n, a(0), a(1), a(2)),
                11 => kplug_native_parse_frames(m, n, a(0), a(1)),
                12 => kplug_native_pid(a(0), a(1)),
                13 => kplug_native_xxhash64(m, n, a(0), a(1), a(2)),
                14 => kplug_native_q31_fir(m, n, a(0), a(1), a(2)),
                15 => kplug_native_biquad_f32(m, n, a(0), a(1), a(2)),
                16 => kplug_native_matmul_f64(m, n, a(0), a(1), a(2)),
                17 => kplug_native_memcpy_4k(m, n, a(0), a(1), a(2)),
                _ => kplug_native_memset_4k(m, n, a(0), a(1), a(2)),
            }
        };
        Ok(result as i32)
    }
}
