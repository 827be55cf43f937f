//! The CPU layer: boot, descriptor tables (GDT, IDT, LDT descriptors), interrupt and exception
//! entry, the ring transitions to and from plugins, the boot probe and CPU primitives.
//!
//! It depends on no other layer of the firmware. What happens on an interrupt, an exception or a
//! gate call is decided above: the platform registers its handlers here
//! ([`idt::Handlers`], [`switch::set_gate_dispatch`]).

pub mod boot;
pub mod cpu;
pub mod gdt;
pub mod idt;
pub mod ldt;
pub mod probe;
pub mod switch;
