//! Single CPU instructions the drivers' users need around them (the time-stamp counter), wrapped
//! once with their justification.

/// Reads the time-stamp counter (`RDTSC`, Intel SDM Vol. 2B, "RDTSC"; Vol. 3B, section 18.17
/// "Time-Stamp Counter").
///
/// Every Pentium has a TSC (CPUID.01H:EDX.TSC, bit 4). `RDTSC` is not serializing: it can run
/// before earlier instructions retire, which is below the resolution that matters here (PIT ticks
/// of 838 ns). Use [`crate::Pit8254::measure_tsc_hz`] to turn TSC deltas into time.
#[allow(unsafe_code)]
#[inline]
pub fn read_tsc() -> u64 {
    // SAFETY: RDTSC reads a counter into EDX:EAX and touches no memory. It faults (#GP) only when
    // CR4.TSD is set and CPL > 0 (Intel SDM Vol. 2B, "RDTSC"); the firmware runs at CPL 0 and never
    // sets CR4.TSD, and hosted tests run on Linux, which leaves TSD clear. A #GP would be a trap,
    // not undefined behaviour.
    unsafe { x86::time::rdtsc() }
}

#[cfg(test)]
mod tests {
    /// Proves that `read_tsc` executes and that the counter does not run backwards between two reads.
    #[test]
    fn tsc_is_monotonic_between_two_reads() {
        let first = super::read_tsc();
        let second = super::read_tsc();
        assert!(second >= first);
    }
}
