//! Plugin description defaults.

use plugin_format::Limits;
use plugin_format::plugin::{DEFAULT_BUDGET_US, DEFAULT_MAX_MEMORY_PAGES, DEFAULT_STACK_BYTES};

/// `Limits::default()` is 4 pages, a 16 KiB stack and a 10 ms budget, as documented.
#[test]
fn default_limits() {
    let limits = Limits::default();
    assert_eq!(
        (
            limits.max_memory_pages,
            limits.stack_bytes,
            limits.budget_us
        ),
        (4, 16384, 10_000)
    );
    assert_eq!(
        (
            DEFAULT_MAX_MEMORY_PAGES,
            DEFAULT_STACK_BYTES,
            DEFAULT_BUDGET_US
        ),
        (4, 16384, 10_000)
    );
}
