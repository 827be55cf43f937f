//! The attachment table: which export runs where (`plugin_format::attach`), each attachment's
//! counters, the timers' schedule, the channels' chains and the console's words. The plugin
//! service ([`crate::service::PluginService`]) runs the invocations; this module decides what
//! runs next and keeps the books, with no platform in sight, so its rules are tested on any host.
//!
//! Rules:
//! - **Timers have no catch-up.** A timer's next deadline is its last deadline plus its period;
//!   if that is already past when a run ends (the run overran, or the board was busy), the
//!   missed deadlines are counted in `missed` and the next one is a full period after the run
//!   ended. The service runs at most one attached invocation per main-loop pass, earliest
//!   deadline first, and the main loop serves the console and the link between passes, so an
//!   overrunning timer never starves them or the other attachments.
//! - **Chains have an explicit order.** A stage is inserted at its position (0 = first) or
//!   appended; a position past the chain's end is refused. Detaching closes the gap.
//! - **Detach is atomic with respect to runs.** Attached invocations run only from the main loop,
//!   between requests, never from an interrupt; a detach or an unload (which removes a plugin's
//!   attachments before its code is freed) completes before the next invocation is chosen.

use alloc::string::String;
use alloc::vec::Vec;

use crate::table::PluginId;
use plugin_format::attach::{
    AttachCounters, AttachError, AttachFault, AttachPoint, AttachSpec, MAX_ATTACHMENTS,
    MAX_CHAIN_STAGES,
};
use plugin_format::trap::TrapKind;

/// One attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its id (unique while the board runs; never reused).
    pub id: u32,
    /// The plugin whose export runs.
    pub plugin: PluginId,
    /// What runs where.
    pub spec: AttachSpec,
    /// Its counters.
    pub counters: AttachCounters,
    /// For a timer: when it is next due, in microseconds of the board's clock.
    pub due_us: u64,
    /// For a channel stage: its plugin's input area (offset, bytes), checked at attach.
    pub stage_area: (u32, u32),
}

/// What one attached run did, as the service measured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRecord {
    /// The board's clock when the run ended, in microseconds.
    pub end_us: u64,
    /// Cycles the run took.
    pub cycles: u64,
    /// The same in microseconds.
    pub micros: u64,
    /// The trap that ended it, if one did.
    pub trap: Option<TrapKind>,
}

/// A channel's chain: its attachment ids, first stage first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Chain {
    channel: String,
    stages: Vec<u32>,
}

/// Every attachment on the board.
#[derive(Debug, Default)]
pub struct Attachments {
    list: Vec<Attachment>,
    chains: Vec<Chain>,
    next_id: u32,
    channels: Vec<String>,
    reserved_words: Vec<String>,
}

impl Attachments {
    /// An empty table for a board with these channels and these built-in console words.
    pub fn new(channels: &[&str], reserved_words: &[&str]) -> Attachments {
        Attachments {
            list: Vec::new(),
            chains: channels
                .iter()
                .map(|channel| Chain {
                    channel: (*channel).into(),
                    stages: Vec::new(),
                })
                .collect(),
            next_id: 1,
            channels: channels.iter().map(|channel| (*channel).into()).collect(),
            reserved_words: reserved_words.iter().map(|word| (*word).into()).collect(),
        }
    }

    /// The board's channels.
    pub fn channels(&self) -> impl Iterator<Item = &str> {
        self.channels.iter().map(String::as_str)
    }

    /// Every attachment, in the order they were made.
    pub fn iter(&self) -> impl Iterator<Item = &Attachment> {
        self.list.iter()
    }

    /// The attachment `id`.
    pub fn get(&self, id: u32) -> Option<&Attachment> {
        self.list.iter().find(|attachment| attachment.id == id)
    }

    /// Adds an attachment of `plugin` (the caller has checked the export and its signature).
    /// A timer is first due one period after `now_us`.
    pub fn add(
        &mut self,
        plugin: PluginId,
        spec: AttachSpec,
        now_us: u64,
    ) -> Result<u32, AttachError> {
        spec.check()?;
        if self.list.len() >= MAX_ATTACHMENTS {
            return Err(AttachError::TooManyAttachments);
        }
        let mut chain_slot = None;
        let due_us = match &spec.point {
            AttachPoint::Timer { period_us } => now_us.saturating_add(u64::from(*period_us)),
            AttachPoint::Console { word } => {
                let taken = self.reserved_words.iter().any(|reserved| reserved == word)
                    || self.console(word).is_some();
                if taken {
                    return Err(AttachError::WordInUse);
                }
                0
            }
            AttachPoint::Channel { name, position } => {
                chain_slot = Some(self.chain_slot(name, *position)?);
                0
            }
            AttachPoint::Boot => 0,
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        if let Some((chain, at)) = chain_slot {
            self.chains[chain].stages.insert(at, id);
        }
        self.list.push(Attachment {
            id,
            plugin,
            spec,
            counters: AttachCounters::default(),
            due_us,
            stage_area: (0, 0),
        });
        Ok(id)
    }

    /// Records a channel stage's input area (checked by the caller).
    pub fn set_stage_area(&mut self, id: u32, area: (u32, u32)) {
        if let Some(attachment) = self.list.iter_mut().find(|attachment| attachment.id == id) {
            attachment.stage_area = area;
        }
    }

    /// Counts a buffer that stage `id` dropped.
    pub fn note_dropped(&mut self, id: u32) {
        if let Some(attachment) = self.list.iter_mut().find(|attachment| attachment.id == id) {
            attachment.counters.dropped = attachment.counters.dropped.saturating_add(1);
        }
    }

    /// Where a stage for channel `name` at `position` (`None`: last) would go: the chain's index
    /// and the stage's index in it. Refuses an unknown channel, a full chain, a position past
    /// the chain's end.
    pub fn chain_slot(
        &self,
        name: &str,
        position: Option<u32>,
    ) -> Result<(usize, usize), AttachError> {
        let chain = self
            .chains
            .iter()
            .position(|chain| chain.channel == name)
            .ok_or(AttachError::NoSuchChannel)?;
        let stages = u32::try_from(self.chains[chain].stages.len()).unwrap_or(u32::MAX);
        if stages >= MAX_CHAIN_STAGES {
            return Err(AttachError::ChainFull);
        }
        let at = position.unwrap_or(stages);
        if at > stages {
            return Err(AttachError::Position {
                position: at,
                stages,
            });
        }
        Ok((chain, at as usize))
    }

    /// Removes attachment `id` (closing its chain's gap).
    pub fn remove(&mut self, id: u32) -> Result<Attachment, AttachError> {
        let index = self
            .list
            .iter()
            .position(|attachment| attachment.id == id)
            .ok_or(AttachError::NoSuchAttachment)?;
        for chain in &mut self.chains {
            chain.stages.retain(|stage| *stage != id);
        }
        Ok(self.list.remove(index))
    }

    /// Removes every attachment of `plugin`; returns how many there were.
    pub fn remove_plugin(&mut self, plugin: PluginId) -> usize {
        let ids: Vec<u32> = self
            .list
            .iter()
            .filter(|attachment| attachment.plugin == plugin)
            .map(|attachment| attachment.id)
            .collect();
        for id in &ids {
            let _ = self.remove(*id);
        }
        ids.len()
    }

    /// The attachment serving console word `word`.
    pub fn console(&self, word: &str) -> Option<&Attachment> {
        self.list.iter().find(
            |attachment| matches!(&attachment.spec.point, AttachPoint::Console { word: w } if w == word),
        )
    }

    /// The stages of channel `channel`'s chain, first stage first.
    pub fn chain(&self, channel: &str) -> Vec<&Attachment> {
        self.chains
            .iter()
            .find(|chain| chain.channel == channel)
            .map(|chain| chain.stages.iter().filter_map(|id| self.get(*id)).collect())
            .unwrap_or_default()
    }

    /// The boot attachments of `plugin`, in the order they were made.
    pub fn boot(&self, plugin: PluginId) -> Vec<u32> {
        self.list
            .iter()
            .filter(|attachment| {
                attachment.plugin == plugin && attachment.spec.point == AttachPoint::Boot
            })
            .map(|attachment| attachment.id)
            .collect()
    }

    /// The timer due earliest at `now_us` among those whose plugin `runnable` admits, if any is
    /// due.
    pub fn due_timer(&self, now_us: u64, runnable: impl Fn(PluginId) -> bool) -> Option<u32> {
        self.list
            .iter()
            .filter(|attachment| matches!(attachment.spec.point, AttachPoint::Timer { .. }))
            .filter(|attachment| attachment.due_us <= now_us && runnable(attachment.plugin))
            .min_by_key(|attachment| attachment.due_us)
            .map(|attachment| attachment.id)
    }

    /// When the next timer among those whose plugin `runnable` admits is due, if any.
    pub fn next_due_us(&self, runnable: impl Fn(PluginId) -> bool) -> Option<u64> {
        self.list
            .iter()
            .filter(|attachment| matches!(attachment.spec.point, AttachPoint::Timer { .. }))
            .filter(|attachment| runnable(attachment.plugin))
            .map(|attachment| attachment.due_us)
            .min()
    }

    /// Books a run of attachment `id`: counters, and for a timer its next deadline (no
    /// catch-up, see the module's rules). Returns the fault to report, if any: a trap, or a
    /// timer run that took longer than its period.
    pub fn record(&mut self, id: u32, run: RunRecord) -> Option<AttachFault> {
        let attachment = self
            .list
            .iter_mut()
            .find(|attachment| attachment.id == id)?;
        let counters = &mut attachment.counters;
        counters.runs = counters.runs.saturating_add(1);
        counters.total_cycles = counters.total_cycles.saturating_add(run.cycles);
        counters.max_cycles = counters.max_cycles.max(run.cycles);
        let mut fault = run.trap.map(AttachFault::Trapped);
        if run.trap.is_some() {
            counters.traps = counters.traps.saturating_add(1);
        }
        if let AttachPoint::Timer { period_us } = attachment.spec.point {
            let period = u64::from(period_us);
            if run.micros > period {
                counters.overruns = counters.overruns.saturating_add(1);
                fault = fault.or(Some(AttachFault::Overran { micros: run.micros }));
            }
            let next = attachment.due_us.saturating_add(period);
            if next <= run.end_us {
                let missed = (run.end_us - next) / period + 1;
                counters.missed = counters.missed.saturating_add(missed);
                attachment.due_us = run.end_us.saturating_add(period);
            } else {
                attachment.due_us = next;
            }
        }
        fault
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_format::attach::FaultAction;

    fn spec(point: &str) -> AttachSpec {
        AttachSpec {
            export: "run".into(),
            point: AttachPoint::parse(point).unwrap(),
            on_fault: FaultAction::Keep,
        }
    }

    fn run(end_us: u64, micros: u64) -> RunRecord {
        RunRecord {
            end_us,
            cycles: micros * 1000,
            micros,
            trap: None,
        }
    }

    #[test]
    fn timers_run_earliest_first_without_catch_up() {
        let mut table = Attachments::new(&[], &[]);
        let fast = table.add(0, spec("timer:1ms"), 0).unwrap();
        let slow = table.add(1, spec("timer:10ms"), 0).unwrap();
        assert_eq!(table.due_timer(999, |_| true), None);
        assert_eq!(table.due_timer(1_000, |_| true), Some(fast));
        // A run that ends in time keeps the period's grid.
        assert_eq!(table.record(fast, run(1_200, 200)), None);
        assert_eq!(table.get(fast).unwrap().due_us, 2_000);
        // A 5.5 ms run of a 1 ms timer overruns; the deadlines it covered are missed, not
        // replayed: the next run is a period after it ended.
        assert_eq!(
            table.record(fast, run(7_700, 5_500)),
            Some(AttachFault::Overran { micros: 5_500 })
        );
        let counters = table.get(fast).unwrap().counters;
        assert_eq!((counters.overruns, counters.missed), (1, 5));
        assert_eq!(table.get(fast).unwrap().due_us, 8_700);
        assert_eq!(table.next_due_us(|_| true), Some(8_700));
        assert_eq!(table.next_due_us(|plugin| plugin != 0), Some(10_000));
        // When both are due, the earlier deadline runs first; the run moves it past the other
        // timer's, so the slow timer runs next even though the fast one is always late.
        assert_eq!(table.due_timer(10_000, |_| true), Some(fast));
        table.record(fast, run(10_100, 100));
        assert_eq!(table.get(fast).unwrap().due_us, 11_100);
        assert_eq!(table.due_timer(10_100, |_| true), Some(slow));
        // A plugin that may not run (quarantined) is passed over.
        assert_eq!(table.due_timer(20_000, |plugin| plugin != 0), Some(slow));
    }

    #[test]
    fn counters_add_up() {
        let mut table = Attachments::new(&[], &[]);
        let id = table.add(0, spec("console:crc"), 0).unwrap();
        table.record(id, run(0, 3));
        let trapped = RunRecord {
            trap: Some(TrapKind::Unreachable),
            ..run(0, 1)
        };
        assert_eq!(
            table.record(id, trapped),
            Some(AttachFault::Trapped(TrapKind::Unreachable))
        );
        let counters = table.get(id).unwrap().counters;
        assert_eq!(counters.runs, 2);
        assert_eq!(counters.traps, 1);
        assert_eq!(counters.max_cycles, 3000);
        assert_eq!(counters.mean_cycles(), 2000);
        assert_eq!(counters.overruns, 0);
    }

    #[test]
    fn chains_keep_an_explicit_order() {
        let mut table = Attachments::new(&["samples"], &[]);
        let last = table.add(0, spec("channel:samples"), 0).unwrap();
        let first = table.add(1, spec("channel:samples@0"), 0).unwrap();
        let middle = table.add(2, spec("channel:samples@1"), 0).unwrap();
        let order = |table: &Attachments| {
            table
                .chain("samples")
                .iter()
                .map(|stage| stage.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(order(&table), [first, middle, last]);
        assert_eq!(
            table.add(3, spec("channel:samples@4"), 0),
            Err(AttachError::Position {
                position: 4,
                stages: 3
            })
        );
        assert_eq!(
            table.add(3, spec("channel:frames"), 0),
            Err(AttachError::NoSuchChannel)
        );
        table.remove(middle).unwrap();
        assert_eq!(order(&table), [first, last]);
        assert_eq!(table.remove_plugin(0), 1);
        assert_eq!(order(&table), [first]);
        for _ in 1..MAX_CHAIN_STAGES {
            table.add(4, spec("channel:samples"), 0).unwrap();
        }
        assert_eq!(
            table.add(4, spec("channel:samples"), 0),
            Err(AttachError::ChainFull)
        );
    }

    #[test]
    fn console_words_are_unique_and_the_table_is_bounded() {
        let mut table = Attachments::new(&[], &["help", "ps"]);
        assert_eq!(
            table.add(0, spec("console:help"), 0),
            Err(AttachError::WordInUse)
        );
        let crc = table.add(0, spec("console:crc"), 0).unwrap();
        assert_eq!(
            table.add(1, spec("console:crc"), 0),
            Err(AttachError::WordInUse)
        );
        assert_eq!(table.console("crc").map(|found| found.id), Some(crc));
        assert_eq!(table.remove(crc).map(|removed| removed.id), Ok(crc));
        assert_eq!(table.remove(crc), Err(AttachError::NoSuchAttachment));
        for _ in 0..MAX_ATTACHMENTS {
            table.add(0, spec("boot"), 0).unwrap();
        }
        assert_eq!(
            table.add(0, spec("boot"), 0),
            Err(AttachError::TooManyAttachments)
        );
        assert_eq!(table.boot(0).len(), MAX_ATTACHMENTS);
    }
}
