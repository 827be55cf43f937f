//! `kplug list`: the loaded plugins, one line each.

use clap::Args;
use plugin_host_tool::plugin;
use plugin_host_tool::plugin_format::attach::AttachmentSummary;
use plugin_host_tool::plugin_format::message::{PluginState, PluginSummary, TrapPolicy};

use super::invoke::{summary_json, value_text};
use super::{TargetArgs, human_bytes};

/// Show the loaded plugins.
#[derive(Debug, Args)]
#[command(
    long_about = "List the plugins loaded on a board: id, name, state (ready, or quarantined \
after too many traps), generated code size, linear memory, invocations, traps, the result of \
the last call that returned, the kind of the last trap, and the trap policy. Then the \
attachments (`kplug attach`): id, plugin and export, attach point, fault action, runs, traps, \
overruns, deadlines missed, and mean and max cycles per run.",
    after_help = "\
Examples:
  kplug list
  kplug list --board hw --json      the firmware's plugin summaries as JSON, each with its
                                    attachments and their counters"
)]
pub struct List {
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl List {
    /// Asks the firmware and prints.
    pub fn run(self) -> anyhow::Result<()> {
        let mut link = self.target.connect()?;
        let plugins = plugin::list(&mut link)?;
        let attachments = plugin::attachments(&mut link)?;
        if self.json {
            // One object per plugin, as before attachments existed; each carries its own.
            let plugins: Vec<_> = plugins
                .iter()
                .map(|plugin| {
                    let mut value = summary_json(plugin);
                    let own: Vec<_> = attachments
                        .iter()
                        .filter(|attachment| attachment.plugin == plugin.id)
                        .collect();
                    value["attachments"] = serde_json::to_value(own).unwrap_or_default();
                    value
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&plugins)?);
            return Ok(());
        }
        if plugins.is_empty() {
            println!("no plugins loaded");
        } else {
            print!("{}", table(&plugins));
        }
        if !attachments.is_empty() {
            println!();
            print!("{}", attachments_table(&attachments));
        }
        Ok(())
    }
}

/// The policy in words.
pub fn policy_text(policy: TrapPolicy) -> String {
    match policy {
        TrapPolicy::KeepLoaded => "keep".into(),
        TrapPolicy::QuarantineAfter(traps) => format!("quarantine after {traps}"),
    }
}

/// The attachments' table.
pub fn attachments_table(attachments: &[AttachmentSummary]) -> String {
    let header = [
        "ATTACHMENT",
        "EXPORT",
        "POINT",
        "ON FAULT",
        "RUNS",
        "TRAPS",
        "OVERRUNS",
        "MISSED",
        "MEAN CYCLES",
        "MAX CYCLES",
    ];
    let rows: Vec<Vec<String>> = attachments
        .iter()
        .map(|attachment| {
            let counters = &attachment.counters;
            vec![
                attachment.id.to_string(),
                format!("{}.{}", attachment.plugin_name, attachment.spec.export),
                attachment.spec.point.to_string(),
                format!("{:?}", attachment.spec.on_fault).to_lowercase(),
                counters.runs.to_string(),
                counters.traps.to_string(),
                counters.overruns.to_string(),
                counters.missed.to_string(),
                counters.mean_cycles().to_string(),
                counters.max_cycles.to_string(),
            ]
        })
        .collect();
    aligned(&header, &rows, |index| index == 0 || index >= 4)
}

/// The table, with a header and columns as wide as their widest cell.
fn table(plugins: &[PluginSummary]) -> String {
    let header = [
        "ID",
        "NAME",
        "STATE",
        "CODE",
        "MEMORY",
        "CALLS",
        "TRAPS",
        "LAST RESULT",
        "LAST TRAP",
        "POLICY",
    ];
    let rows: Vec<Vec<String>> = plugins
        .iter()
        .map(|plugin| {
            let last_result = match &plugin.last_result {
                None => "-".to_owned(),
                Some(values) if values.is_empty() => "()".to_owned(),
                Some(values) => values
                    .iter()
                    .map(|value| value_text(*value))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            vec![
                plugin.id.to_string(),
                plugin.name.clone(),
                match plugin.state {
                    PluginState::Ready => "ready".to_owned(),
                    PluginState::Quarantined => "quarantined".to_owned(),
                },
                format!("{} B", plugin.code_bytes),
                human_bytes(u64::from(plugin.memory_bytes)),
                plugin.invocations.to_string(),
                plugin.traps.to_string(),
                last_result,
                plugin
                    .last_trap
                    .as_ref()
                    .map_or("-".to_owned(), |trap| trap.kind.message().to_owned()),
                policy_text(plugin.policy),
            ]
        })
        .collect();
    aligned(&header, &rows, |index| matches!(index, 0 | 3 | 5 | 6))
}

/// `header` and `rows` in columns as wide as their widest cell; `numeric` columns
/// right-aligned.
fn aligned(header: &[&str], rows: &[Vec<String>], numeric: impl Fn(usize) -> bool) -> String {
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            // Numbers right-aligned, text left-aligned; no padding after the last column.
            let last = index + 1 == cells.len();
            let padded = if numeric(index) {
                format!("{cell:>width$}")
            } else if last {
                cell.clone()
            } else {
                format!("{cell:<width$}")
            };
            if index > 0 {
                text.push_str("  ");
            }
            text.push_str(&padded);
        }
        text.push('\n');
        text
    };
    let header: Vec<String> = header.iter().map(|title| (*title).to_owned()).collect();
    let mut text = line(&header);
    for row in rows {
        text.push_str(&line(row));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_host_tool::plugin_format::message::Value;
    use plugin_host_tool::plugin_format::trap::{TrapKind, TrapRecord};

    fn summary(id: u32, name: &str) -> PluginSummary {
        PluginSummary {
            id,
            name: name.into(),
            state: PluginState::Ready,
            code_bytes: 1843,
            memory_bytes: 65536,
            invocations: 12,
            traps: 0,
            last_result: Some(vec![Value::I32(-873_187_034)]),
            last_trap: None,
            policy: TrapPolicy::KeepLoaded,
        }
    }

    /// Each column the issue asks for is there, aligned under its header, and a trapped,
    /// quarantined plugin shows its state, trap kind and policy.
    #[test]
    fn table_shows_every_column() {
        let mut hostile = summary(1, "hostile");
        hostile.state = PluginState::Quarantined;
        hostile.traps = 3;
        hostile.last_result = None;
        hostile.last_trap = Some(TrapRecord {
            kind: TrapKind::BudgetExceeded,
            function: Some(2),
            offset: Some(0x40),
            vector: None,
            error_code: None,
            eip: 0x33,
            registers: None,
        });
        hostile.policy = TrapPolicy::QuarantineAfter(3);
        let text = table(&[summary(0, "crc32"), hostile]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID  NAME     STATE"), "{text}");
        assert!(
            lines[1].contains("crc32    ready        1843 B  64.0 KiB     12      0  -873187034"),
            "{text}"
        );
        assert!(lines[2].contains("quarantined"), "{text}");
        assert!(lines[2].contains("budget exceeded"), "{text}");
        assert!(lines[2].ends_with("quarantine after 3"), "{text}");
        let column = lines[0].find("LAST TRAP").unwrap();
        assert_eq!(&lines[2][column..column + 15], "budget exceeded", "{text}");
    }
}
