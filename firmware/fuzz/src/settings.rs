//! The brief runs' settings from the environment, the same way in every fuzz test: a count
//! (`KPLUG_FUZZ_CASES`, `KPLUG_FUZZ_PROGRAMS`, in decimal) and the seed (`KPLUG_FUZZ_SEED`, in hex,
//! with or without `0x`), each with a fixed default so that CI repeats itself.

/// The count in variable `name` (decimal), or `default` when it is unset or not a number.
pub fn count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// The seed in `KPLUG_FUZZ_SEED` (hex), or `default` when it is unset or not hex.
pub fn seed(default: u64) -> u64 {
    std::env::var("KPLUG_FUZZ_SEED")
        .ok()
        .and_then(|text| u64::from_str_radix(text.trim_start_matches("0x"), 16).ok())
        .unwrap_or(default)
}
