//! The kernel suite as calls of its modules: what each kernel processes, and the calls that put
//! its input in place.
//!
//! | module | kernels | value types |
//! | --- | --- | --- |
//! | `plugins/kernels.wat` | [`KERNELS`]: issue 5's suite, a protocol receiver and a PID loop | i32 |
//! | `plugins/benchmarks/kernels_i64.wat` | [`I64_KERNELS`]: XXH64, a Q31 FIR (issue 10) | i64 |
//! | `plugins/benchmarks/kernels_float.wat` | [`FLOAT_KERNELS`]: an f32 biquad, an f64 matrix multiply (issue 10) | f32, f64 |
//! | `plugins/benchmarks/kernels_bulk.wat` | [`BULK_KERNELS`]: `memory.copy` and `memory.fill` of 4 KiB blocks against native `memcpy`/`memset` (issue 11) | i32, bulk memory |
//!
//! The silicon harness runs every module every way ([`MODULES`]: native Rust, kplug hardware
//! and software mode, wasmi, wasm3); `plugin-host-tool`'s bench includes this file by path and
//! runs [`KERNELS`] on a board.
//!
//! Only `core` is used here, so the file builds in either crate.

/// Buffer A of `kernels.wat` (a 320x240 RGB frame).
pub const BUFFER_A: i32 = 0x0_1000;
/// Buffer B of `kernels.wat` (a 320x240 gray frame).
pub const BUFFER_B: i32 = 0x3_9400;
/// Frame width.
pub const WIDTH: i32 = 320;
/// Frame height.
pub const HEIGHT: i32 = 240;
/// Pixels per frame.
pub const PIXELS: i32 = WIDTH * HEIGHT;
/// Bytes of an RGB frame.
pub const RGB_BYTES: i32 = 3 * PIXELS;
/// Bytes the bitwise CRC runs over (it is eight times slower per byte than the table one).
pub const CRC_BITWISE_BYTES: i32 = 64 * 1024;
/// FIR input samples (i16).
pub const FIR_SAMPLES: i32 = 32 * 1024;
/// i32 values sorted.
pub const SORT_VALUES: i32 = 16 * 1024;
/// fib's argument.
pub const FIB_ARGUMENT: i32 = 27;
/// Wasm pages `kernels.wat` needs.
pub const PAGES: u32 = 5;
/// Bytes of frames the protocol receiver parses.
pub const FRAME_BYTES: i32 = 64 * 1024;
/// Steps of the PID loop.
pub const PID_STEPS: i32 = 64 * 1024;

/// Buffer A of the i64 and float modules (input).
pub const MVP_BUFFER_A: i32 = 0x0_1000;
/// Buffer B of the i64 and float modules (output).
pub const MVP_BUFFER_B: i32 = 0x2_0000;
/// Wasm pages the i64 and float modules have.
pub const MVP_PAGES: u32 = 4;
/// Bytes XXH64 hashes (a multiple of 32 plus 7, so every tail path runs).
pub const XXHASH_BYTES: i32 = 64 * 1024 + 7;
/// Q31 FIR samples (i32).
pub const Q31_SAMPLES: i32 = 16 * 1024;
/// Biquad samples (i16 in, f32 out).
pub const BIQUAD_SAMPLES: i32 = 16 * 1024;
/// Matrix size of the f64 multiply.
pub const MATRIX_SIZE: i32 = 48;

/// One call of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The export.
    pub export: &'static str,
    /// Its arguments.
    pub args: &'static [i32],
}

/// One kernel of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel {
    /// The kernel's export (also its name in reports).
    pub name: &'static str,
    /// The timed call's arguments.
    pub args: &'static [i32],
    /// Calls that put the input in place, once, before the timed runs.
    pub setup: &'static [Call],
    /// Calls repeated before every timed run (the kernel overwrites its own input).
    pub before_each: &'static [Call],
    /// What one run processes, for people.
    pub work: &'static str,
}

/// The RGB test frame in buffer A.
const FILL_FRAME: Call = Call {
    export: "fill",
    args: &[BUFFER_A, RGB_BYTES, 1],
};
/// Its gray version in buffer B.
const GRAY_FRAME: Call = Call {
    export: "rgb_to_gray",
    args: &[BUFFER_A, BUFFER_B, PIXELS],
};

/// The i32 suite (`kernels.wat`), in the order it is run and reported.
pub const KERNELS: [Kernel; 12] = [
    Kernel {
        name: "fill",
        args: &[BUFFER_A, RGB_BYTES, 1],
        setup: &[],
        before_each: &[],
        work: "LCG bytes, one 320x240 RGB frame (230400 bytes)",
    },
    Kernel {
        name: "checksum",
        args: &[BUFFER_A, RGB_BYTES],
        setup: &[FILL_FRAME],
        before_each: &[],
        work: "FNV-1a over 230400 bytes",
    },
    Kernel {
        name: "crc32_bitwise",
        args: &[BUFFER_A, CRC_BITWISE_BYTES],
        setup: &[FILL_FRAME],
        before_each: &[],
        work: "bitwise CRC-32 over 65536 bytes",
    },
    Kernel {
        name: "crc32_table",
        args: &[BUFFER_A, RGB_BYTES],
        setup: &[FILL_FRAME],
        before_each: &[],
        work: "table CRC-32 over 230400 bytes",
    },
    Kernel {
        name: "rgb_to_gray",
        args: &[BUFFER_A, BUFFER_B, PIXELS],
        setup: &[FILL_FRAME],
        before_each: &[],
        work: "RGB -> gray transcoder, 320x240 frame, plus its checksum",
    },
    Kernel {
        name: "downscale2x",
        args: &[BUFFER_B, BUFFER_A, WIDTH, HEIGHT],
        setup: &[FILL_FRAME, GRAY_FRAME],
        before_each: &[],
        work: "2x2 box downscale of a 320x240 gray frame, plus its checksum",
    },
    Kernel {
        name: "conv3x3",
        args: &[BUFFER_B, BUFFER_A, WIDTH, HEIGHT],
        setup: &[FILL_FRAME, GRAY_FRAME],
        before_each: &[],
        work: "3x3 Gaussian over a 320x240 gray frame, plus its checksum",
    },
    Kernel {
        name: "fir",
        args: &[BUFFER_A, BUFFER_B, FIR_SAMPLES],
        setup: &[Call {
            export: "fill",
            args: &[BUFFER_A, 2 * FIR_SAMPLES, 3],
        }],
        before_each: &[],
        work: "16-tap Q15 FIR over 32768 samples, plus its checksum",
    },
    Kernel {
        name: "sort",
        args: &[BUFFER_A, SORT_VALUES],
        setup: &[],
        before_each: &[Call {
            export: "fill",
            args: &[BUFFER_A, 4 * SORT_VALUES, 7],
        }],
        work: "heapsort of 16384 i32, plus its checksum",
    },
    Kernel {
        name: "fib",
        args: &[FIB_ARGUMENT],
        setup: &[],
        before_each: &[],
        work: "naive recursive fib(27)",
    },
    Kernel {
        name: "parse_frames",
        args: &[BUFFER_A, FRAME_BYTES],
        setup: &[Call {
            export: "make_frames",
            args: &[BUFFER_A, FRAME_BYTES, 11],
        }],
        before_each: &[],
        work: "protocol receiver (byte state machine, br_table) over 65536 bytes of frames",
    },
    Kernel {
        name: "pid",
        args: &[PID_STEPS, 5],
        setup: &[],
        before_each: &[],
        work: "Q16.16 PID loop on a first-order plant, 65536 steps",
    },
];

/// The i64 kernels (`kernels_i64.wat`).
pub const I64_KERNELS: [Kernel; 2] = [
    Kernel {
        name: "xxhash64",
        args: &[MVP_BUFFER_A, XXHASH_BYTES, 0],
        setup: &[Call {
            export: "fill",
            args: &[MVP_BUFFER_A, XXHASH_BYTES, 13],
        }],
        before_each: &[],
        work: "XXH64 over 65543 bytes",
    },
    Kernel {
        name: "q31_fir",
        args: &[MVP_BUFFER_A, MVP_BUFFER_B, Q31_SAMPLES],
        setup: &[Call {
            export: "fill",
            args: &[MVP_BUFFER_A, 4 * Q31_SAMPLES, 17],
        }],
        before_each: &[],
        work: "16-tap Q31 FIR, i64 accumulation, over 16384 samples, plus its checksum",
    },
];

/// The float kernels (`kernels_float.wat`).
pub const FLOAT_KERNELS: [Kernel; 2] = [
    Kernel {
        name: "biquad_f32",
        args: &[MVP_BUFFER_A, MVP_BUFFER_B, BIQUAD_SAMPLES],
        setup: &[Call {
            export: "fill",
            args: &[MVP_BUFFER_A, 2 * BIQUAD_SAMPLES, 19],
        }],
        before_each: &[],
        work: "two f32 biquad sections over 16384 samples, plus their checksum",
    },
    Kernel {
        name: "matmul_f64",
        args: &[MVP_BUFFER_A, MVP_BUFFER_B, MATRIX_SIZE],
        setup: &[Call {
            export: "fill",
            args: &[MVP_BUFFER_A, 4 * MATRIX_SIZE * MATRIX_SIZE, 23],
        }],
        before_each: &[],
        work: "48x48 f64 matrix multiply, plus its checksum",
    },
];

/// Repetitions of the 4 KiB block per bulk-memory kernel call.
pub const BULK_REPETITIONS: i32 = 64;

/// The bulk-memory kernels (`kernels_bulk.wat`).
pub const BULK_KERNELS: [Kernel; 2] = [
    Kernel {
        name: "memcpy_4k",
        args: &[MVP_BUFFER_B, MVP_BUFFER_A, BULK_REPETITIONS],
        setup: &[Call {
            export: "fill",
            args: &[MVP_BUFFER_A, 4096, 29],
        }],
        before_each: &[],
        work: "64 x memory.copy of 4 KiB (native: memcpy)",
    },
    Kernel {
        name: "memset_4k",
        args: &[MVP_BUFFER_B, 0x5a, BULK_REPETITIONS],
        setup: &[],
        before_each: &[],
        work: "64 x memory.fill of 4 KiB (native: memset)",
    },
];

/// One module of kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelModule {
    /// Its name (its file under `plugins/`, without `.wat`).
    pub name: &'static str,
    /// Its text.
    pub wat: &'static str,
    /// Wasm pages it declares.
    pub pages: u32,
    /// The value types its kernels compute with, for people.
    pub value_types: &'static str,
    /// Its kernels.
    pub kernels: &'static [Kernel],
    /// Whether its kernels count in the suite medians (the targets of issues 5 and 14 are
    /// judged on compute kernels; the bulk-memory figures stand beside them).
    pub in_suite: bool,
}

/// Every kernel module, in the order they are run and reported.
pub const MODULES: [KernelModule; 4] = [
    KernelModule {
        name: "kernels",
        wat: include_str!("../../../../plugins/kernels.wat"),
        pages: PAGES,
        value_types: "i32",
        kernels: &KERNELS,
        in_suite: true,
    },
    KernelModule {
        name: "kernels_i64",
        wat: include_str!("../../../../plugins/benchmarks/kernels_i64.wat"),
        pages: MVP_PAGES,
        value_types: "i64",
        kernels: &I64_KERNELS,
        in_suite: true,
    },
    KernelModule {
        name: "kernels_float",
        wat: include_str!("../../../../plugins/benchmarks/kernels_float.wat"),
        pages: MVP_PAGES,
        value_types: "f32, f64",
        kernels: &FLOAT_KERNELS,
        in_suite: true,
    },
    KernelModule {
        name: "kernels_bulk",
        wat: include_str!("../../../../plugins/benchmarks/kernels_bulk.wat"),
        pages: MVP_PAGES,
        value_types: "i32, bulk memory",
        kernels: &BULK_KERNELS,
        in_suite: false,
    },
];
