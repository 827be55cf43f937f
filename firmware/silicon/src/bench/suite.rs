//! The kernel suite of issue 5 as calls of `plugins/kernels.wat`: what each kernel processes,
//! and the calls that put its input in place. The silicon harness runs it four ways (native
//! Rust, kplug hardware and software mode, wasmi); `plugin-host-tool`'s bench includes this file
//! by path and runs the same calls on a board.
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

/// The suite, in the order it is run and reported.
pub const KERNELS: [Kernel; 10] = [
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
];
