//! Operands for the x87 test bed: hand-picked edge values, and seeded random values (uniform
//! bit patterns, and "interesting" ones: exponents at the edges of the formats and at every
//! conversion limit, significands at rounding boundaries).

use fastrand::Rng;

/// The high word a 32-bit operand carries in its 64-bit case slot (the bed checks a 32-bit
/// result leaves it alone).
pub const HIGH_FILL: u64 = 0xDEAD_BEEF_0000_0000;

/// Random cases per operator (`KPLUG_X87_CASES`, default 200 000).
pub fn random_cases() -> usize {
    std::env::var("KPLUG_X87_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200_000)
}

/// The seed (`KPLUG_X87_SEED`, default fixed, so that CI is reproducible).
pub fn seed() -> u64 {
    std::env::var("KPLUG_X87_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(0x87_87_87)
}

/// A 32-bit operand in its case slot.
pub fn word(bits: u32) -> u64 {
    HIGH_FILL | u64::from(bits)
}

/// `f32` edge values (bit patterns).
pub fn f32_edges() -> Vec<u32> {
    let mut magnitudes: Vec<u32> = vec![
        0x0000_0000, // 0
        0x0000_0001, // smallest subnormal
        0x0000_0002,
        0x0000_0003,
        0x0040_0000, // a subnormal half way
        0x007F_FFFF, // largest subnormal
        0x0080_0000, // smallest normal
        0x0080_0001,
        0x00FF_FFFF,
        0x3400_0000, // 2^-23
        0x3380_0000, // 2^-24
        0x3EFF_FFFF, // largest below 0.5
        0x3F00_0000, // 0.5
        0x3F00_0001,
        0x3F7F_FFFF, // largest below 1
        0x3F80_0000, // 1
        0x3F80_0001, // 1 + ulp
        0x3FC0_0000, // 1.5
        0x4000_0000, // 2
        0x4020_0000, // 2.5
        0x4040_0000, // 3
        0x4060_0000, // 3.5
        0x4049_0FDB, // pi
        0x4B00_0000, // 2^23
        0x4B00_0001, // 2^23 + 1
        0x4B7F_FFFF, // 2^24 - 1
        0x4B80_0000, // 2^24
        0x4EFF_FFFF, // largest below 2^31
        0x4F00_0000, // 2^31
        0x4F00_0001, // 2^31 + ulp
        0x4F7F_FFFF, // largest below 2^32
        0x4F80_0000, // 2^32
        0x4F80_0001,
        0x5EFF_FFFF, // largest below 2^63
        0x5F00_0000, // 2^63
        0x5F00_0001,
        0x5F7F_FFFF, // largest below 2^64
        0x5F80_0000, // 2^64
        0x5F80_0001,
        0x7F7F_FFFF, // largest finite
        0x7F00_0000,
        0x7F80_0000, // infinity
        0x7FC0_0000, // canonical NaN
        0x7FC0_0001, // quiet NaN with payload
        0x7FFF_FFFF, // quiet NaN, all payload bits
        0x7F80_0001, // signalling NaN
        0x7FA0_0000, // signalling NaN
        0x7FBF_FFFF, // signalling NaN, all payload bits
    ];
    magnitudes.extend([0x3F80_0000u32, 0x4000_0000, 0x4040_0000].map(|bits| bits + 0x0040_0000));
    let mut all: Vec<u32> = magnitudes.to_vec();
    all.extend(magnitudes.iter().map(|bits| bits | 0x8000_0000));
    all
}

/// `f64` edge values (bit patterns).
pub fn f64_edges() -> Vec<u64> {
    let from = |value: f64| value.to_bits();
    let mut magnitudes: Vec<u64> = vec![
        0x0000_0000_0000_0000,
        0x0000_0000_0000_0001, // smallest subnormal
        0x0000_0000_0000_0002,
        0x0000_0000_0000_0003,
        0x0008_0000_0000_0000,
        0x000F_FFFF_FFFF_FFFF, // largest subnormal
        0x0010_0000_0000_0000, // smallest normal
        0x0010_0000_0000_0001,
        0x001F_FFFF_FFFF_FFFF,
        0x3CA0_0000_0000_0000, // 2^-53
        0x3CB0_0000_0000_0000, // 2^-52
        from(0.5).wrapping_sub(1),
        from(0.5),
        from(0.5) + 1,
        from(1.0) - 1,
        from(1.0),
        from(1.0) + 1,
        from(1.5),
        from(2.0),
        from(2.5),
        from(3.0),
        from(3.5),
        from(core::f64::consts::PI),
        from(4503599627370496.0), // 2^52
        from(4503599627370497.0), // 2^52 + 1
        from(9007199254740991.0), // 2^53 - 1
        from(9007199254740992.0), // 2^53
        from(2147483647.0),       // 2^31 - 1
        from(2147483647.5),
        from(2147483648.0), // 2^31
        from(2147483648.0) - 1,
        from(2147483648.0) + 1,
        from(2147483649.0), // 2^31 + 1
        from(4294967295.0), // 2^32 - 1
        from(4294967295.5),
        from(4294967296.0), // 2^32
        from(4294967296.0) - 1,
        from(4294967296.0) + 1,
        from(9223372036854775808.0), // 2^63
        from(9223372036854775808.0) - 1,
        from(9223372036854775808.0) + 1,
        from(18446744073709551616.0), // 2^64
        from(18446744073709551616.0) - 1,
        from(18446744073709551616.0) + 1,
        from(f32::MAX as f64),
        from(f32::MAX as f64) + 1,
        from(f32::MIN_POSITIVE as f64),
        from(1.0e-45), // near the smallest f32 subnormal
        from(f64::MAX),
        0x7F00_0000_0000_0000,
        0x7FF0_0000_0000_0000, // infinity
        0x7FF8_0000_0000_0000, // canonical NaN
        0x7FF8_0000_0000_0001, // quiet NaN with payload
        0x7FFF_FFFF_FFFF_FFFF,
        0x7FF0_0000_0000_0001, // signalling NaN
        0x7FF4_0000_0000_0000,
        0x7FF7_FFFF_FFFF_FFFF,
        0x7FF8_0000_2000_0000, // payload that an f32 demotion keeps
        0x7FF0_0000_2000_0000, // signalling, payload lost by an f32 demotion
    ];
    // f32 halfway patterns seen as doubles (for demotion): 1 + 2^-24 (exact tie), +- 1 ulp.
    let tie = from(1.0 + f64::powi(2.0, -24));
    magnitudes.extend([tie, tie - 1, tie + 1]);
    let mut all = magnitudes.clone();
    all.extend(magnitudes.iter().map(|bits| bits | 1 << 63));
    all
}

/// Integer edge values (64-bit patterns; the `i32` forms take the low word).
pub fn integer_edges() -> Vec<u64> {
    let mut values: Vec<u64> = vec![
        0,
        1,
        2,
        3,
        (1 << 24) - 1,
        1 << 24,
        (1 << 24) + 1,
        (1 << 24) + 3,
        (1 << 25) + 2,
        (1 << 53) - 1,
        1 << 53,
        (1 << 53) + 1,
        (1 << 53) + 3,
        (1 << 54) + 2,
        i32::MAX as u64,
        i32::MIN as u32 as u64,
        u32::MAX as u64,
        0x8000_0001,
        0xFFFF_FF80,
        0xFFFF_FF7F,
        0xFFFF_FF81,
        1 << 32,
        i64::MAX as u64,
        i64::MIN as u64,
        u64::MAX,
        u64::MAX - 1,
        (1 << 63) + 1,
        // f32 ties and near-ties above 2^63 (ulp 2^40) and below (2^62: ulp 2^39).
        (1 << 63) + (1 << 39),
        (1 << 63) + (1 << 39) + 1,
        (1 << 63) + (1 << 39) - 1,
        (1 << 63) + (3 << 39),
        (1 << 62) + (1 << 38),
        (1 << 62) + (1 << 38) + 1,
        // f64 ties above 2^63 (ulp 2^11).
        (1 << 63) + (1 << 10),
        (1 << 63) + (1 << 10) + 1,
        (1 << 63) + (3 << 10),
        u64::MAX - (1 << 10),
        u64::MAX - (1 << 10) + 1,
    ];
    let negated: Vec<u64> = values.iter().map(|value| value.wrapping_neg()).collect();
    values.extend(negated);
    // u32 ties for f32 (ulp 2^8 above 2^31).
    values.extend([0x8000_0080u64, 0x8000_0081, 0x8000_0180, 0xFFFF_FF80]);
    values
}

/// A random `f32`: uniform bits half the time, an "interesting" value otherwise.
pub fn random_f32(rng: &mut Rng) -> u32 {
    if rng.bool() {
        return rng.u32(..);
    }
    let sign = if rng.bool() { 0x8000_0000 } else { 0 };
    let exponent: u32 = match rng.u8(0..10) {
        0 => 0,                                                       // zero / subnormal
        1 => rng.u32(1..4),                                           // smallest normals
        2 => rng.u32(0xFC..0xFF),                                     // largest normals
        3 => 0xFF,                                                    // infinity / NaN
        4 => 127 + [31, 32, 63, 64][rng.usize(0..4)] - rng.u32(0..2), // conversion limits
        5 => rng.u32(120..135),                                       // around 1
        _ => rng.u32(0..0x100),
    };
    sign | exponent << 23 | random_significand(rng, 23) as u32
}

/// A random `f64`, as [`random_f32`].
pub fn random_f64(rng: &mut Rng) -> u64 {
    if rng.bool() {
        return rng.u64(..);
    }
    let sign = if rng.bool() { 1 << 63 } else { 0 };
    let exponent: u64 = match rng.u8(0..10) {
        0 => 0,
        1 => rng.u64(1..4),
        2 => rng.u64(0x7FC..0x7FF),
        3 => 0x7FF,
        4 => 1023 + [31, 32, 63, 64][rng.usize(0..4)] - rng.u64(0..2),
        5 => rng.u64(1010..1040),
        _ => rng.u64(0..0x800),
    };
    sign | exponent << 52 | random_significand(rng, 52)
}

/// A significand field of `bits` bits: random, or a rounding-boundary pattern.
fn random_significand(rng: &mut Rng, bits: u32) -> u64 {
    let mask = (1u64 << bits) - 1;
    match rng.u8(0..8) {
        0 => 0,
        1 => mask,
        2 => 1 << rng.u32(0..bits),
        // A tie below some bit: ...x1000...0, and its neighbours.
        3 | 4 => {
            let low = rng.u32(1..bits);
            let high = rng.u64(..) & mask & !((1 << low) - 1);
            let tie = high | 1 << (low - 1);
            match rng.u8(0..3) {
                0 => tie,
                1 => tie + 1,
                _ => tie - 1,
            }
        }
        _ => rng.u64(..) & mask,
    }
}

/// A random `f64` with the given unbiased exponent (clamped to the normal range) and a random
/// significand; subnormal-range exponents give subnormals.
pub fn f64_with_exponent(rng: &mut Rng, exponent: i32) -> u64 {
    let sign = if rng.bool() { 1 << 63 } else { 0 };
    let significand = random_significand(rng, 52);
    if exponent < -1022 {
        // A subnormal of about that size.
        let shift = (-1022 - exponent).min(52) as u32;
        return sign | ((1 << 52 | significand) >> shift) & ((1 << 52) - 1);
    }
    let biased = (exponent + 1023).clamp(1, 0x7FE) as u64;
    sign | biased << 52 | significand
}

/// The unbiased exponent of a finite non-zero `f64` (subnormals count their leading bit).
pub fn f64_exponent(bits: u64) -> i32 {
    let biased = ((bits >> 52) & 0x7FF) as i32;
    if biased == 0 {
        let significand = bits & ((1 << 52) - 1);
        -1074 + 63 - significand.leading_zeros() as i32
    } else {
        biased - 1023
    }
}

/// A pair for a binary operator: independent random values, or a second operand placed
/// relative to the first (close exponents for sums and ties; for `f64` products and quotients
/// a result in the subnormal range, where double rounding lives).
pub fn random_f64_pair(rng: &mut Rng, product: Option<bool>) -> (u64, u64) {
    let a = random_f64(rng);
    match rng.u8(0..4) {
        0 | 1 => (a, random_f64(rng)),
        _ => {
            let ea = if (a >> 52) & 0x7FF == 0x7FF || a << 1 == 0 {
                rng.i32(-1000..1000)
            } else {
                f64_exponent(a)
            };
            let a = f64_with_exponent(rng, ea);
            let eb = match product {
                // a * b: exponents summing to the subnormal range.
                Some(true) => rng.i32(-1080..-1015) - ea,
                // a / b: a's exponent minus b's in the subnormal range.
                Some(false) => ea - rng.i32(-1080..-1015),
                None => ea - rng.i32(-60..60),
            };
            (a, f64_with_exponent(rng, eb))
        }
    }
}

/// A pair of `f32` values, as [`random_f64_pair`] (products and quotients aimed at the
/// subnormal range of `f32`).
pub fn random_f32_pair(rng: &mut Rng, product: Option<bool>) -> (u32, u32) {
    let a = random_f32(rng);
    if rng.bool() {
        return (a, random_f32(rng));
    }
    let ea = rng.i32(-120..120);
    let eb = match product {
        Some(true) => rng.i32(-155..-120) - ea,
        Some(false) => ea - rng.i32(-155..-120),
        None => ea - rng.i32(-30..30),
    };
    let make = |rng: &mut Rng, exponent: i32| -> u32 {
        let sign = if rng.bool() { 0x8000_0000 } else { 0 };
        let significand = random_significand(rng, 23) as u32;
        if exponent < -126 {
            let shift = (-126 - exponent).min(23) as u32;
            return sign | ((1 << 23 | significand) >> shift) & ((1 << 23) - 1);
        }
        sign | ((exponent + 127).clamp(1, 0xFE) as u32) << 23 | significand
    };
    (make(rng, ea), make(rng, eb))
}

/// A random integer: uniform bits, a random bit length, or a tie pattern for `f32`/`f64`.
pub fn random_integer(rng: &mut Rng) -> u64 {
    match rng.u8(0..4) {
        0 => rng.u64(..),
        1 => rng.u64(..) >> rng.u32(0..64),
        2 => (rng.u64(..) >> rng.u32(0..64)).wrapping_neg(),
        _ => {
            // A value whose bits below an f32 or f64 rounding position are a tie, +- 1.
            let length = rng.u32(25..=64);
            let kept = if rng.bool() { 24 } else { 53 }.min(length - 1);
            let low = length - kept;
            let high = (rng.u64(..) | 1 << 63) >> (64 - length) & !((1u64 << low) - 1);
            let tie = high | 1 << (low - 1);
            match rng.u8(0..3) {
                0 => tie,
                1 => tie.wrapping_add(1),
                _ => tie.wrapping_sub(1),
            }
        }
    }
}
