//! `kplug policy`: what the firmware does with a plugin that traps.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use plugin_host_tool::plugin;
use plugin_host_tool::plugin_format::message::TrapPolicy;

use super::TargetArgs;
use super::list::policy_text;

/// The policy, as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PolicyArg {
    /// Keep the plugin loaded and callable whatever it does (the default).
    Keep,
    /// Refuse further calls once it has trapped N times.
    QuarantineAfter,
}

/// Set what the firmware does with a plugin that traps.
#[derive(Debug, Args)]
#[command(
    long_about = "Set a plugin's trap policy. `keep` keeps it callable however often it traps \
(the default). `quarantine-after N` makes the firmware refuse further calls once the plugin has \
trapped N times; `kplug list` then shows it as quarantined. Setting a policy also lifts a \
quarantine in force.",
    after_help = "\
Examples:
  kplug policy hostile quarantine-after 3
  kplug policy hostile keep                 release it and keep it callable"
)]
pub struct Policy {
    /// The plugin: its id or its name.
    #[arg(value_name = "PLUGIN")]
    plugin: String,

    /// The policy.
    #[arg(value_enum, value_name = "POLICY")]
    policy: PolicyArg,

    /// For quarantine-after: how many traps (at least 1).
    #[arg(value_name = "N")]
    traps: Option<u32>,

    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

impl Policy {
    /// The policy the arguments describe.
    fn policy(&self) -> anyhow::Result<TrapPolicy> {
        match (self.policy, self.traps) {
            (PolicyArg::Keep, None) => Ok(TrapPolicy::KeepLoaded),
            (PolicyArg::Keep, Some(_)) => bail!("`keep` takes no count"),
            (PolicyArg::QuarantineAfter, Some(traps)) if traps > 0 => {
                Ok(TrapPolicy::QuarantineAfter(traps))
            }
            (PolicyArg::QuarantineAfter, _) => {
                bail!("`quarantine-after` needs a number of traps of at least 1")
            }
        }
    }

    /// Sets the policy.
    pub fn run(self) -> anyhow::Result<()> {
        let policy = self.policy()?;
        let mut link = self.target.connect()?;
        plugin::set_trap_policy(&mut link, plugin::plugin_ref(&self.plugin), policy)
            .with_context(|| format!("cannot set the trap policy of {}", self.plugin))?;
        println!(
            "{}: trap policy is now `{}` (this also lifts a quarantine)",
            self.plugin,
            policy_text(policy)
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Cli, Command};
    use clap::Parser;

    fn policy(arguments: &[&str]) -> anyhow::Result<TrapPolicy> {
        let mut full = vec!["kplug", "policy"];
        full.extend_from_slice(arguments);
        let cli = Cli::try_parse_from(full)?;
        let Command::Policy(policy) = cli.command else {
            panic!("not policy")
        };
        policy.policy()
    }

    /// `keep` and `quarantine-after N` map onto the wire policies; a missing, zero or
    /// superfluous count is refused.
    #[test]
    fn policies_parse() {
        assert_eq!(policy(&["p", "keep"]).unwrap(), TrapPolicy::KeepLoaded);
        assert_eq!(
            policy(&["3", "quarantine-after", "5"]).unwrap(),
            TrapPolicy::QuarantineAfter(5)
        );
        assert!(policy(&["p", "quarantine-after"]).is_err());
        assert!(policy(&["p", "quarantine-after", "0"]).is_err());
        assert!(policy(&["p", "keep", "2"]).is_err());
        assert!(policy(&["p", "forget"]).is_err());
    }
}
