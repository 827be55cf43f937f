//! Matching an engine's trap against a script's message: the spec tests' wording, its
//! prefixes, and the older or newer wordings of the same trap ([`TRAP_MESSAGE_ALIASES`]).

use plugin_format::trap::TrapKind;

use super::engine::Trap;

/// Spec-test trap wordings that differ from [`TrapKind::message`]: (script text, kind).
pub const TRAP_MESSAGE_ALIASES: &[(&str, TrapKind)] = &[
    // Older spec tests.
    (
        "indirect call signature mismatch",
        TrapKind::IndirectCallSignature,
    ),
    // Newer spec tests say this for a call_indirect index past the table.
    (
        "out of bounds table access",
        TrapKind::IndirectCallOutOfRange,
    ),
    ("stack overflow", TrapKind::StackExhausted),
];

/// Whether a trap or failure described by `actual` (the engine's words) says what the script's
/// `expected` says: one containing the other's start (`unreachable` for `unreachable
/// executed`, `uninitialized element` for `uninitialized element 2`).
pub fn message_matches(actual: &str, expected: &str) -> bool {
    !actual.is_empty() && (actual.contains(expected) || expected.starts_with(actual))
}

/// Whether `trap` is what the script's `expected` message describes: by the engine's words, by
/// its kind's words, or by an alias of its kind.
pub fn trap_matches(trap: &Trap, expected: &str) -> bool {
    message_matches(&trap.message, expected)
        || trap.kind.is_some_and(|kind| {
            message_matches(kind.message(), expected)
                || TRAP_MESSAGE_ALIASES
                    .iter()
                    .any(|&(text, alias)| alias == kind && message_matches(text, expected))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trap(kind: TrapKind) -> Trap {
        Trap::from_message(Some(kind), kind.message())
    }

    /// Trap messages match the spec wording, its prefixes and aliases, and nothing else.
    #[test]
    fn trap_messages_match() {
        assert!(trap_matches(&trap(TrapKind::Unreachable), "unreachable"));
        assert!(trap_matches(
            &trap(TrapKind::Unreachable),
            "unreachable executed"
        ));
        assert!(trap_matches(
            &trap(TrapKind::IndirectCallNull),
            "uninitialized element 2"
        ));
        assert!(trap_matches(
            &trap(TrapKind::IndirectCallSignature),
            "indirect call signature mismatch"
        ));
        assert!(trap_matches(
            &trap(TrapKind::IndirectCallOutOfRange),
            "out of bounds table access"
        ));
        assert!(!trap_matches(
            &trap(TrapKind::IntegerOverflow),
            "integer divide by zero"
        ));
        assert!(!trap_matches(&trap(TrapKind::OutOfBounds), "unreachable"));
        let conversion = Trap::from_message(None, "invalid conversion to integer");
        assert!(trap_matches(&conversion, "invalid conversion to integer"));
        assert!(!trap_matches(&conversion, "integer overflow"));
        assert!(!message_matches("", "anything"));
    }
}
