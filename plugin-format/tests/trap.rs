//! Trap codes: stable numbers, wire encoding and messages.

use plugin_format::trap::{Registers, TrapKind, TrapRecord};

/// `ALL` lists every kind once, in code order, and the codes are 1..=16 with no gap.
#[test]
fn codes_are_contiguous() {
    for (index, kind) in TrapKind::ALL.into_iter().enumerate() {
        assert_eq!(kind.as_u32(), index as u32 + 1);
        assert_eq!(TrapKind::from_u32(kind.as_u32()), Some(kind));
    }
    assert_eq!(TrapKind::from_u32(0), None);
    assert_eq!(TrapKind::from_u32(18), None);
}

/// On the wire a TrapKind is its ABI code (not a variant index), and unknown codes are rejected.
#[test]
fn wire_encoding_is_the_code() {
    assert_eq!(
        postcard::to_allocvec(&TrapKind::Unreachable).unwrap(),
        [0x01]
    );
    assert_eq!(
        postcard::to_allocvec(&TrapKind::ImportFault).unwrap(),
        [0x10]
    );
    assert_eq!(
        postcard::from_bytes::<TrapKind>(&[0x09]),
        Ok(TrapKind::BudgetExceeded)
    );
    assert_eq!(
        postcard::from_bytes::<TrapKind>(&[0x11]),
        Ok(TrapKind::InvalidConversion)
    );
    assert!(postcard::from_bytes::<TrapKind>(&[0x12]).is_err());
}

/// Wasm traps use the spec tests' `assert_trap` wording.
#[test]
fn wasm_trap_messages_match_spec_tests() {
    let expected = [
        (TrapKind::Unreachable, "unreachable"),
        (TrapKind::IntegerDivideByZero, "integer divide by zero"),
        (TrapKind::IntegerOverflow, "integer overflow"),
        (TrapKind::OutOfBounds, "out of bounds memory access"),
        (TrapKind::StackExhausted, "call stack exhausted"),
        (TrapKind::IndirectCallNull, "uninitialized element"),
        (TrapKind::IndirectCallOutOfRange, "undefined element"),
        (
            TrapKind::IndirectCallSignature,
            "indirect call type mismatch",
        ),
        (TrapKind::BudgetExceeded, "budget exceeded"),
        (TrapKind::InvalidConversion, "invalid conversion to integer"),
    ];
    for (kind, message) in expected {
        assert_eq!(kind.to_string(), message);
    }
}

/// A trap record prints its kind and every location it knows, and omits the rest.
#[test]
fn trap_record_display() {
    let mut record = TrapRecord {
        kind: TrapKind::GeneralProtection,
        function: Some(3),
        offset: Some(0x1A2),
        vector: Some(13),
        error_code: Some(0x18),
        eip: 0x40,
        registers: Some(Registers::default()),
    };
    assert_eq!(
        record.to_string(),
        "general protection fault in function 3 at offset 0x1a2 (vector 13, error code 0x18, eip 0x40)"
    );
    record.kind = TrapKind::BudgetExceeded;
    record.function = None;
    record.offset = None;
    record.vector = None;
    assert_eq!(record.to_string(), "budget exceeded");
}
