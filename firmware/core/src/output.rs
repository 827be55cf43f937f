//! Events waiting for the host: plugin output (`log`, `emit`) under a quota, and the runtime's
//! own events (traps), in the order they happened.
//!
//! A plugin controls how much it writes, so nothing is copied before the quota is checked:
//! [`MAX_PENDING_OUTPUT_BYTES`] bytes (counting [`EVENT_OVERHEAD_BYTES`] per event) are held
//! until the host is sent them ([`OutputQueue::take`]); output beyond that, or output that finds
//! no memory (every copy is a `try_reserve`), is dropped and counted, and the host is told how
//! much with a note. Output is cut into events of at most [`MAX_EVENT_PAYLOAD_BYTES`], so every
//! event fits in one frame.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use plugin_format::limits::MAX_PENDING_OUTPUT_BYTES;
use plugin_format::message::Event;

/// What each queued event costs against the quota beyond its payload (its bookkeeping), so that
/// many empty writes are bounded too.
pub const EVENT_OVERHEAD_BYTES: u32 = 16;

/// The most payload bytes in one output event (half a frame: the rest is framing and headers).
pub const MAX_EVENT_PAYLOAD_BYTES: usize = 2048;

/// Events for the host, with the plugin-output quota.
#[derive(Debug, Default)]
pub struct OutputQueue {
    events: Vec<Event>,
    /// Quota used since the last `take`.
    pending: u32,
    /// Output bytes dropped since the last `take` (reported in a note).
    dropped_since_take: u32,
    /// Output bytes dropped since boot (a counter for `Stats`).
    dropped_total: u32,
    /// The plugin whose output is being queued.
    plugin: u32,
}

impl OutputQueue {
    /// An empty queue.
    pub const fn new() -> OutputQueue {
        OutputQueue {
            events: Vec::new(),
            pending: 0,
            dropped_since_take: 0,
            dropped_total: 0,
            plugin: 0,
        }
    }

    /// Attributes the output that follows to plugin `id`.
    pub fn set_plugin(&mut self, id: u32) {
        self.plugin = id;
    }

    /// Output bytes dropped since boot.
    pub fn dropped_total(&self) -> u32 {
        self.dropped_total
    }

    /// Quota bytes in use now.
    pub fn pending(&self) -> u32 {
        self.pending
    }

    fn drop_output(&mut self, bytes: usize) {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.dropped_since_take = self.dropped_since_take.saturating_add(bytes);
        self.dropped_total = self.dropped_total.saturating_add(bytes);
    }

    /// Reserves the quota for `payload` bytes in `events` events; false (nothing reserved) if
    /// it does not fit, or if the event list cannot grow.
    fn reserve(&mut self, payload: usize, events: usize) -> bool {
        let cost = u32::try_from(events)
            .ok()
            .and_then(|events| events.checked_mul(EVENT_OVERHEAD_BYTES))
            .and_then(|overhead| overhead.checked_add(u32::try_from(payload).ok()?))
            .and_then(|cost| cost.checked_add(self.pending));
        match cost {
            Some(total) if total <= MAX_PENDING_OUTPUT_BYTES => {
                if self.events.try_reserve(events).is_err() {
                    return false;
                }
                self.pending = total;
                true
            }
            _ => false,
        }
    }

    /// `env.emit`: `bytes` for the host, cut into events of at most
    /// [`MAX_EVENT_PAYLOAD_BYTES`]. Over the quota, or without memory, the bytes are dropped
    /// (counted) before anything is copied.
    pub fn emit(&mut self, bytes: &[u8]) {
        let events = bytes.len().div_ceil(MAX_EVENT_PAYLOAD_BYTES).max(1);
        if !self.reserve(bytes.len(), events) {
            self.drop_output(bytes.len());
            return;
        }
        if bytes.is_empty() {
            self.events.push(Event::PluginOutput {
                plugin: self.plugin,
                bytes: Vec::new(),
            });
            return;
        }
        for (index, chunk) in bytes.chunks(MAX_EVENT_PAYLOAD_BYTES).enumerate() {
            let mut copy = Vec::new();
            if copy.try_reserve_exact(chunk.len()).is_err() {
                let rest = bytes.len() - index * MAX_EVENT_PAYLOAD_BYTES;
                self.drop_output(rest);
                return;
            }
            copy.extend_from_slice(chunk);
            // Cannot allocate: `reserve` made room for every chunk's event.
            self.events.push(Event::PluginOutput {
                plugin: self.plugin,
                bytes: copy,
            });
        }
    }

    /// `env.log`: one line of text (invalid UTF-8 replaced), cut into events of at most
    /// [`MAX_EVENT_PAYLOAD_BYTES`] at character boundaries. Over the quota, or without memory,
    /// it is dropped (counted) before anything is copied.
    pub fn log(&mut self, text: &[u8]) {
        // Text longer than the whole quota is dropped unread: its lossy length is at least its
        // length (a replacement character is 3 bytes and replaces 1 to 3), so it could never
        // fit, and scanning it would cost time in proportion to what the plugin passed (16 MiB
        // took more than 2 s on a Bochs board).
        if text.len() > MAX_PENDING_OUTPUT_BYTES as usize {
            self.drop_output(text.len());
            return;
        }
        let size = lossy_len(text);
        let events = size.div_ceil(MAX_EVENT_PAYLOAD_BYTES).max(1);
        if !self.reserve(size, events) {
            self.drop_output(text.len());
            return;
        }
        let Some(text) = lossy_text(text, size) else {
            self.drop_output(size);
            return;
        };
        let mut rest = text.as_str();
        loop {
            let cut = char_boundary_at_most(rest, MAX_EVENT_PAYLOAD_BYTES);
            let (line, tail) = rest.split_at(cut);
            let mut copy = String::new();
            if copy.try_reserve_exact(line.len()).is_err() {
                self.drop_output(rest.len());
                return;
            }
            copy.push_str(line);
            self.events.push(Event::PluginLog {
                plugin: self.plugin,
                text: copy,
            });
            if tail.is_empty() {
                return;
            }
            rest = tail;
        }
    }

    /// Queues one of the runtime's own events (a trap). Not counted against the plugin-output
    /// quota (at most one per invocation); dropped only if no memory is left.
    pub fn push(&mut self, event: Event) {
        if self.events.try_reserve(1).is_ok() {
            self.events.push(event);
        }
    }

    /// Takes the queued events in order (with a note for output dropped since the last take)
    /// and resets the quota.
    pub fn take(&mut self) -> Vec<Event> {
        if self.dropped_since_take > 0 {
            let text = format!(
                "[{} bytes of plugin output dropped: over the {MAX_PENDING_OUTPUT_BYTES}-byte quota]",
                self.dropped_since_take
            );
            self.push(Event::PluginLog {
                plugin: self.plugin,
                text,
            });
            self.dropped_since_take = 0;
        }
        self.pending = 0;
        core::mem::take(&mut self.events)
    }
}

/// The length of `bytes` as UTF-8 with every invalid sequence replaced by U+FFFD.
fn lossy_len(bytes: &[u8]) -> usize {
    bytes
        .utf8_chunks()
        .map(|chunk| {
            chunk.valid().len()
                + if chunk.invalid().is_empty() {
                    0
                } else {
                    char::REPLACEMENT_CHARACTER.len_utf8()
                }
        })
        .sum()
}

/// `bytes` as text, invalid sequences replaced, allocated fallibly (`size` = [`lossy_len`]).
fn lossy_text(bytes: &[u8], size: usize) -> Option<String> {
    let mut text = String::new();
    text.try_reserve_exact(size).ok()?;
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
    Some(text)
}

/// The largest index `<= max` that is a character boundary of `text` (all of it if shorter).
fn char_boundary_at_most(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    (0..=max)
        .rev()
        .find(|&index| text.is_char_boundary(index))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn output_bytes(events: &[Event]) -> usize {
        events
            .iter()
            .map(|event| match event {
                Event::PluginOutput { bytes, .. } => bytes.len(),
                _ => 0,
            })
            .sum()
    }

    /// A 16 MiB emit is refused before it is copied: nothing is queued but the note, and the
    /// count is kept.
    #[test]
    fn oversized_output_is_dropped_before_it_is_copied() {
        let mut queue = OutputQueue::new();
        let huge = vec![0x55u8; 16 << 20];
        queue.emit(&huge);
        assert_eq!(queue.pending(), 0);
        let events = queue.take();
        assert_eq!(events.len(), 1);
        assert!(
            matches!(&events[0], Event::PluginLog { text, .. } if text.contains("16777216 bytes"))
        );
        assert_eq!(queue.dropped_total(), 16 << 20);
    }

    /// Output up to the quota is kept in frame-sized events, in order; the quota resets at
    /// `take`.
    #[test]
    fn output_within_the_quota_is_kept_in_frame_sized_events() {
        let mut queue = OutputQueue::new();
        queue.set_plugin(3);
        queue.emit(&[1; 5000]);
        queue.log(b"after");
        let events = queue.take();
        assert_eq!(events.len(), 4);
        assert_eq!(output_bytes(&events), 5000);
        assert!(events.iter().all(|event| match event {
            Event::PluginOutput { plugin, bytes } =>
                *plugin == 3 && bytes.len() <= MAX_EVENT_PAYLOAD_BYTES,
            Event::PluginLog { text, .. } => text == "after",
            _ => false,
        }));
        assert_eq!(queue.pending(), 0);
        let most = MAX_PENDING_OUTPUT_BYTES as usize - 8 * EVENT_OVERHEAD_BYTES as usize;
        queue.emit(&vec![2; most]);
        assert_eq!(output_bytes(&queue.take()), most);
        assert_eq!(queue.dropped_total(), 0);
    }

    /// Many empty writes are bounded by the per-event overhead (the dropped ones lose no
    /// bytes, so there is no note).
    #[test]
    fn empty_writes_cost_their_overhead() {
        let mut queue = OutputQueue::new();
        for _ in 0..100_000 {
            queue.emit(&[]);
        }
        let events = queue.take();
        assert_eq!(
            events.len(),
            (MAX_PENDING_OUTPUT_BYTES / EVENT_OVERHEAD_BYTES) as usize
        );
    }

    /// Invalid UTF-8 is replaced, long lines are cut at character boundaries.
    #[test]
    fn log_text_is_lossy_and_cut_at_character_boundaries() {
        let mut queue = OutputQueue::new();
        queue.log(b"ok \xFF!");
        let mut long = "é".repeat(MAX_EVENT_PAYLOAD_BYTES).into_bytes();
        long.truncate(2 * MAX_EVENT_PAYLOAD_BYTES + 1);
        queue.log(&long);
        let events = queue.take();
        let texts: Vec<&str> = events
            .iter()
            .map(|event| match event {
                Event::PluginLog { text, .. } => text.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts[0], "ok \u{FFFD}!");
        assert!(
            texts[1..]
                .iter()
                .all(|text| text.len() <= MAX_EVENT_PAYLOAD_BYTES)
        );
        assert_eq!(
            texts[1..].concat(),
            String::from_utf8_lossy(&long).into_owned()
        );
    }
}
