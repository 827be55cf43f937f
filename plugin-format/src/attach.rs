//! Attach points: where the firmware runs a plugin's export without the host asking.
//!
//! An [`AttachSpec`] (export, [`AttachPoint`], [`FaultAction`]) is what `kplug attach` sends and
//! what a plugin store keeps beside a plugin's description (it serializes with postcard like the
//! rest of the protocol). Its text form is the CLI's `--to` argument:
//!
//! | text | point | the export's signature |
//! | --- | --- | --- |
//! | `timer:10ms`, `timer:1s`, `timer:2500us` | every period, [`MIN_TIMER_PERIOD_US`]..=[`MAX_TIMER_PERIOD_US`] | `() -> ()` or `() -> (i32)` |
//! | `console:WORD` | a command on the COM1 console | `() -> ()` or `() -> (i32)` |
//! | `channel:NAME`, `channel:NAME@POSITION` | a stage of a channel's chain | `(i32) -> (i32)` |
//! | `boot` | once, when the plugin is installed at boot | `() -> ()` or `() -> (i32)` |
//!
//! Every number and name in a spec comes from outside and is checked by [`AttachSpec::check`]
//! (and by [`AttachPoint::parse`] for text) with a typed [`AttachError`].

use alloc::string::String;
use core::fmt;
use serde::{Deserialize, Serialize};

/// Shortest timer period, in microseconds (1 ms: the board's tick).
pub const MIN_TIMER_PERIOD_US: u32 = 1_000;
/// Longest timer period, in microseconds (one hour).
pub const MAX_TIMER_PERIOD_US: u32 = 3_600_000_000;
/// Longest console word or channel name, in bytes.
pub const MAX_ATTACH_NAME_BYTES: usize = 16;
/// Most stages in one channel's chain.
pub const MAX_CHAIN_STAGES: u32 = 8;
/// Most attachments on a board at once (all points together).
pub const MAX_ATTACHMENTS: usize = 32;

/// Where an export runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachPoint {
    /// Every `period_us` microseconds, from the board's clock.
    Timer {
        /// The period.
        period_us: u32,
    },
    /// As the console command `word`; the export's output is printed on the console.
    Console {
        /// The command word.
        word: String,
    },
    /// As a stage of channel `name`'s chain, at `position` (0 = first; `None` = last).
    Channel {
        /// The channel.
        name: String,
        /// Where in the chain.
        position: Option<u32>,
    },
    /// Once, when the plugin is installed at boot (by the plugin store, which keeps the spec);
    /// attaching it over the link records it and does not run it. A boot run that traps or
    /// overruns its budget is reported and the plugin stays installed unless the fault action
    /// says otherwise; it never stops the board from booting.
    Boot,
}

/// What happens to an attachment whose invocation traps or overruns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum FaultAction {
    /// Count it, report it, keep the attachment (the default).
    #[default]
    Keep,
    /// Count it, report it, and detach this attachment.
    Detach,
    /// Count it, report it, and quarantine the plugin: none of its attachments run and it
    /// refuses invocations until its trap policy is set again.
    Quarantine,
}

/// An attachment as requested and as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachSpec {
    /// The export that runs.
    pub export: String,
    /// Where.
    pub point: AttachPoint,
    /// What a trap or an overrun does.
    pub on_fault: FaultAction,
}

/// Why an attach spec or an attach request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachError {
    /// The text is not `timer:PERIOD`, `console:WORD`, `channel:NAME[@POSITION]` or `boot`.
    Syntax,
    /// The period is not a number with a unit (`us`, `ms`, `s`), or does not fit in 32 bits
    /// of microseconds.
    PeriodSyntax,
    /// The period is outside [`MIN_TIMER_PERIOD_US`]..=[`MAX_TIMER_PERIOD_US`].
    Period {
        /// The period asked for, in microseconds.
        period_us: u32,
    },
    /// A console word or channel name is empty, longer than [`MAX_ATTACH_NAME_BYTES`], or not
    /// lower-case ASCII letters, digits, `-` and `_` starting with a letter.
    Name {
        /// Its length in bytes.
        bytes: u32,
    },
    /// The position is not a number, or is beyond the chain's length (or
    /// [`MAX_CHAIN_STAGES`]).
    Position {
        /// The position asked for.
        position: u32,
        /// Stages in the chain now.
        stages: u32,
    },
    /// The export name is empty or longer than `limits::MAX_EXPORT_NAME_BYTES`.
    ExportName {
        /// Its length in bytes.
        bytes: u32,
    },
    /// The board has no channel of this name.
    NoSuchChannel,
    /// The console word is already a command (built in, or another attachment's).
    WordInUse,
    /// The channel's chain already has [`MAX_CHAIN_STAGES`] stages.
    ChainFull,
    /// The board already has [`MAX_ATTACHMENTS`] attachments.
    TooManyAttachments,
    /// The export's signature does not fit the point (see the module's table).
    Signature,
    /// No attachment has this id.
    NoSuchAttachment,
    /// A channel stage's plugin does not describe a valid input area: it must export
    /// `input_ptr() -> i32` and `input_capacity() -> i32` (the SDK's
    /// `export_buffer!(INPUT => input_ptr, input_capacity)`) returning an area of 1 to
    /// [`MAX_STAGE_BUFFER_BYTES`] bytes inside its linear memory.
    StageArea {
        /// What `input_ptr` returned (`u32::MAX` if it could not be called).
        pointer: u32,
        /// What `input_capacity` returned (`u32::MAX` if it could not be called).
        capacity: u32,
    },
}

/// Largest input area a channel stage may declare.
pub const MAX_STAGE_BUFFER_BYTES: u32 = 64 * 1024;

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::Syntax => f.write_str(
                "an attach point is timer:PERIOD, console:WORD, channel:NAME[@POSITION] or boot",
            ),
            AttachError::PeriodSyntax => f.write_str(
                "a period is a whole number with a unit: 10ms, 1s, 2500us (at most 4294 s)",
            ),
            AttachError::Period { period_us } => write!(
                f,
                "a timer period of {period_us} us is outside {MIN_TIMER_PERIOD_US} us ..= \
                 {MAX_TIMER_PERIOD_US} us"
            ),
            AttachError::Name { bytes } => write!(
                f,
                "a console word or channel name ({bytes} bytes) is 1 to {MAX_ATTACH_NAME_BYTES} \
                 characters: lower-case letters, digits, '-' and '_', starting with a letter"
            ),
            AttachError::Position { position, stages } => write!(
                f,
                "position {position} is beyond the chain, which has {stages} stage(s) (at most \
                 {MAX_CHAIN_STAGES})"
            ),
            AttachError::ExportName { bytes } => write!(
                f,
                "an export name ({bytes} bytes) is 1 to {} bytes",
                crate::limits::MAX_EXPORT_NAME_BYTES
            ),
            AttachError::NoSuchChannel => f.write_str("the board has no channel of this name"),
            AttachError::WordInUse => f.write_str("this console word is already a command"),
            AttachError::ChainFull => write!(
                f,
                "the channel's chain already has {MAX_CHAIN_STAGES} stages"
            ),
            AttachError::TooManyAttachments => write!(
                f,
                "the board already has {MAX_ATTACHMENTS} attachments; detach one first"
            ),
            AttachError::Signature => f.write_str(
                "the export's signature does not fit: timer, console and boot take () -> () or \
                 () -> (i32); a channel stage takes (i32) -> (i32)",
            ),
            AttachError::NoSuchAttachment => f.write_str("no attachment has this id"),
            AttachError::StageArea { pointer, capacity } => write!(
                f,
                "a channel stage's plugin exports input_ptr() and input_capacity() describing \
                 1 to {MAX_STAGE_BUFFER_BYTES} bytes inside its memory (it said {capacity} bytes \
                 at {pointer})"
            ),
        }
    }
}

impl core::error::Error for AttachError {}

/// Whether `name` is a valid console word or channel name.
pub fn check_name(name: &str) -> Result<(), AttachError> {
    let bytes = name.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= MAX_ATTACH_NAME_BYTES
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|&byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"-_".contains(&byte)
        });
    if valid {
        Ok(())
    } else {
        Err(AttachError::Name {
            bytes: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        })
    }
}

/// Parses a period: digits, then `us`, `ms` or `s`; checked against the timer limits.
pub fn parse_period(text: &str) -> Result<u32, AttachError> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let scale: u64 = match unit {
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        _ => return Err(AttachError::PeriodSyntax),
    };
    if digits.is_empty() || digits.len() > 10 {
        return Err(AttachError::PeriodSyntax);
    }
    let value: u64 = digits.parse().map_err(|_| AttachError::PeriodSyntax)?;
    let micros = value
        .checked_mul(scale)
        .and_then(|micros| u32::try_from(micros).ok())
        .ok_or(AttachError::PeriodSyntax)?;
    let point = AttachPoint::Timer { period_us: micros };
    point.check()?;
    Ok(micros)
}

impl AttachPoint {
    /// Parses the CLI's text form (see the module's table), with every number checked.
    pub fn parse(text: &str) -> Result<AttachPoint, AttachError> {
        let point = match text.split_once(':') {
            None if text == "boot" => AttachPoint::Boot,
            Some(("timer", period)) => AttachPoint::Timer {
                period_us: parse_period(period)?,
            },
            Some(("console", word)) => AttachPoint::Console { word: word.into() },
            Some(("channel", rest)) => match rest.split_once('@') {
                None => AttachPoint::Channel {
                    name: rest.into(),
                    position: None,
                },
                Some((name, position)) => {
                    let valid = !position.is_empty()
                        && position.len() <= 10
                        && position.bytes().all(|byte| byte.is_ascii_digit());
                    let position = position.parse::<u32>().ok().filter(|_| valid).ok_or(
                        AttachError::Position {
                            position: u32::MAX,
                            stages: 0,
                        },
                    )?;
                    AttachPoint::Channel {
                        name: name.into(),
                        position: Some(position),
                    }
                }
            },
            _ => return Err(AttachError::Syntax),
        };
        point.check()?;
        Ok(point)
    }

    /// Checks what can be checked without a board: the period's range, names' form, a position
    /// below [`MAX_CHAIN_STAGES`].
    pub fn check(&self) -> Result<(), AttachError> {
        match self {
            AttachPoint::Timer { period_us } => {
                if (MIN_TIMER_PERIOD_US..=MAX_TIMER_PERIOD_US).contains(period_us) {
                    Ok(())
                } else {
                    Err(AttachError::Period {
                        period_us: *period_us,
                    })
                }
            }
            AttachPoint::Console { word } => check_name(word),
            AttachPoint::Channel { name, position } => {
                check_name(name)?;
                match position {
                    Some(position) if *position >= MAX_CHAIN_STAGES => Err(AttachError::Position {
                        position: *position,
                        stages: MAX_CHAIN_STAGES,
                    }),
                    _ => Ok(()),
                }
            }
            AttachPoint::Boot => Ok(()),
        }
    }

    /// Whether the export attached here takes the stage's length argument.
    pub fn is_stage(&self) -> bool {
        matches!(self, AttachPoint::Channel { .. })
    }
}

impl fmt::Display for AttachPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachPoint::Timer { period_us } if period_us % 1_000_000 == 0 => {
                write!(f, "timer:{}s", period_us / 1_000_000)
            }
            AttachPoint::Timer { period_us } if period_us % 1_000 == 0 => {
                write!(f, "timer:{}ms", period_us / 1_000)
            }
            AttachPoint::Timer { period_us } => write!(f, "timer:{period_us}us"),
            AttachPoint::Console { word } => write!(f, "console:{word}"),
            AttachPoint::Channel {
                name,
                position: None,
            } => write!(f, "channel:{name}"),
            AttachPoint::Channel {
                name,
                position: Some(position),
            } => write!(f, "channel:{name}@{position}"),
            AttachPoint::Boot => f.write_str("boot"),
        }
    }
}

impl AttachSpec {
    /// Checks the export name's length and the point (see [`AttachPoint::check`]).
    pub fn check(&self) -> Result<(), AttachError> {
        let bytes = self.export.len();
        if bytes == 0 || bytes > crate::limits::MAX_EXPORT_NAME_BYTES {
            return Err(AttachError::ExportName {
                bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
            });
        }
        self.point.check()
    }
}

/// An attachment's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachCounters {
    /// Invocations that ran (returned or trapped).
    pub runs: u64,
    /// Invocations that trapped (a budget overrun is a trap too: `budget exceeded`).
    pub traps: u64,
    /// Timer invocations that returned after their period had passed.
    pub overruns: u64,
    /// Timer deadlines skipped because the previous run (or the board) was late: there is no
    /// catch-up burst.
    pub missed: u64,
    /// Buffers a channel stage dropped (it returned a negative length, its input did not fit
    /// its input area, or it faulted).
    pub dropped: u64,
    /// Cycles of all runs together (mean = this / runs).
    pub total_cycles: u64,
    /// Cycles of the longest run.
    pub max_cycles: u64,
}

impl AttachCounters {
    /// Mean cycles per run (0 before the first run).
    pub fn mean_cycles(&self) -> u64 {
        self.total_cycles.checked_div(self.runs).unwrap_or(0)
    }
}

/// One line of `kplug list`'s attachments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentSummary {
    /// The attachment's id (for `kplug detach`).
    pub id: u32,
    /// The plugin's id.
    pub plugin: u32,
    /// The plugin's name.
    pub plugin_name: String,
    /// What is attached where.
    pub spec: AttachSpec,
    /// Its counters.
    pub counters: AttachCounters,
}

/// What happened to an attachment's invocation that the host hears about as an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachFault {
    /// It trapped (the record is in the `Trap` event sent before this one).
    Trapped(crate::trap::TrapKind),
    /// A timer run took longer than its period.
    Overran {
        /// How long it took, in microseconds.
        micros: u64,
    },
    /// A channel stage returned an output length beyond its input area (the buffer is dropped).
    BadLength {
        /// What it returned.
        returned: i32,
        /// Its input area's size.
        capacity: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_parse_and_print_back() {
        for text in [
            "timer:10ms",
            "timer:1s",
            "timer:2500us",
            "console:crc",
            "channel:frames",
            "channel:samples@2",
            "boot",
        ] {
            let point = AttachPoint::parse(text).unwrap();
            assert_eq!(alloc::format!("{point}"), text);
        }
        assert_eq!(
            AttachPoint::parse("timer:1000us"),
            Ok(AttachPoint::Timer { period_us: 1000 })
        );
    }

    #[test]
    fn hostile_texts_are_refused_with_typed_errors() {
        let cases: &[(&str, AttachError)] = &[
            ("", AttachError::Syntax),
            ("tick:10ms", AttachError::Syntax),
            ("boot:now", AttachError::Syntax),
            ("timer:", AttachError::PeriodSyntax),
            ("timer:10", AttachError::PeriodSyntax),
            ("timer:-1ms", AttachError::PeriodSyntax),
            ("timer:10 ms", AttachError::PeriodSyntax),
            ("timer:99999999999s", AttachError::PeriodSyntax),
            ("timer:4295s", AttachError::PeriodSyntax),
            ("timer:999us", AttachError::Period { period_us: 999 }),
            ("timer:0ms", AttachError::Period { period_us: 0 }),
            (
                "timer:3601s",
                AttachError::Period {
                    period_us: 3_601_000_000,
                },
            ),
            ("console:", AttachError::Name { bytes: 0 }),
            ("console:Crc", AttachError::Name { bytes: 3 }),
            ("console:1st", AttachError::Name { bytes: 3 }),
            ("console:abcdefghijklmnopq", AttachError::Name { bytes: 17 }),
            (
                "channel:frames@",
                AttachError::Position {
                    position: u32::MAX,
                    stages: 0,
                },
            ),
            (
                "channel:frames@-1",
                AttachError::Position {
                    position: u32::MAX,
                    stages: 0,
                },
            ),
            (
                "channel:frames@99999999999",
                AttachError::Position {
                    position: u32::MAX,
                    stages: 0,
                },
            ),
            (
                "channel:frames@8",
                AttachError::Position {
                    position: 8,
                    stages: MAX_CHAIN_STAGES,
                },
            ),
            ("channel:@1", AttachError::Name { bytes: 0 }),
        ];
        for (text, expected) in cases {
            assert_eq!(AttachPoint::parse(text).as_ref(), Err(expected), "{text:?}");
        }
        let spec = AttachSpec {
            export: String::new(),
            point: AttachPoint::Boot,
            on_fault: FaultAction::Keep,
        };
        assert_eq!(spec.check(), Err(AttachError::ExportName { bytes: 0 }));
    }

    #[test]
    fn specs_round_trip_through_postcard() {
        let spec = AttachSpec {
            export: "tick".into(),
            point: AttachPoint::Channel {
                name: "samples".into(),
                position: Some(1),
            },
            on_fault: FaultAction::Quarantine,
        };
        let bytes = postcard::to_allocvec(&spec).unwrap();
        assert_eq!(postcard::from_bytes::<AttachSpec>(&bytes).unwrap(), spec);
    }
}
