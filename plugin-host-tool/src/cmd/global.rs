//! `kplug get` and `kplug set`: a plugin's exported globals, read and written from the host
//! (the way eBPF maps give a program's state to user space).

use anyhow::{Context, anyhow, bail};
use clap::Args;
use plugin_host_tool::plugin;
use plugin_host_tool::plugin_format::message::{PluginRef, Reply, Request, Value};

use super::TargetArgs;
use super::invoke::value_line;

/// Parses `text` as a value of the same type as `like`, in the forms `kplug invoke` takes.
fn parse_like(like: Value, text: &str) -> anyhow::Result<Value> {
    let ty = match like {
        Value::I32(_) => "i32",
        Value::I64(_) => "i64",
        Value::F32(_) => "f32",
        Value::F64(_) => "f64",
        Value::FuncRef(_) | Value::ExternRef(_) => {
            bail!("reference globals cannot be set from the host")
        }
    };
    plugin::parse_value(&format!("{ty}:{text}"))
        .map_err(|error| anyhow!("`{text}` is not {}", error.expected))
}

/// Read an exported global of a plugin.
#[derive(Debug, Args)]
#[command(
    long_about = "Read an exported global of a loaded plugin: its current value, with its type. \
The plugin keeps running state in globals (counters, thresholds, the last value seen); this is \
how the host reads it without calling the plugin.",
    after_help = "\
Examples:
  kplug get counter count
  kplug get filter threshold --board hw"
)]
pub struct Get {
    /// The plugin: its id or its name.
    #[arg(value_name = "PLUGIN")]
    plugin: String,
    /// The global's export name.
    #[arg(value_name = "GLOBAL")]
    global: String,
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

impl Get {
    /// Reads and prints.
    pub fn run(self) -> anyhow::Result<()> {
        let mut link = self.target.connect()?;
        let value = plugin::get_global(&mut link, plugin::plugin_ref(&self.plugin), &self.global)
            .with_context(|| format!("cannot read {}.{}", self.plugin, self.global))?;
        println!("{}", value_line(value));
        Ok(())
    }
}

/// Write an exported mutable global of a plugin.
#[derive(Debug, Args)]
#[command(
    long_about = "Write an exported mutable global of a loaded plugin. The value is parsed as \
the global's type (read first from the board): integers in decimal or 0x hex, floats in \
decimal. Immutable globals are refused, as is a value the type cannot hold; nothing is written \
then. The plugin sees the new value on its next run.",
    after_help = "\
Examples:
  kplug set filter threshold 1200
  kplug set counter count 0"
)]
pub struct Set {
    /// The plugin: its id or its name.
    #[arg(value_name = "PLUGIN")]
    plugin: String,
    /// The global's export name.
    #[arg(value_name = "GLOBAL")]
    global: String,
    /// The new value.
    #[arg(value_name = "VALUE", allow_hyphen_values = true)]
    value: String,
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

impl Set {
    /// Writes and prints the value now held.
    pub fn run(self) -> anyhow::Result<()> {
        let mut link = self.target.connect()?;
        let plugin_ref: PluginRef = plugin::plugin_ref(&self.plugin);
        let current = plugin::get_global(&mut link, plugin_ref.clone(), &self.global)
            .with_context(|| format!("cannot read {}.{}", self.plugin, self.global))?;
        let value = parse_like(current, &self.value)?;
        let reply = link
            .request(Request::SetGlobal {
                plugin: plugin_ref,
                name: self.global.clone(),
                value,
            })
            .with_context(|| format!("cannot write {}.{}", self.plugin, self.global))?;
        match reply {
            Reply::Global(now) => println!("{}.{} = {}", self.plugin, self.global, value_line(now)),
            other => bail!("unexpected answer to set: {other:?}"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_as_the_global_type() {
        assert_eq!(parse_like(Value::I32(0), "-5").unwrap(), Value::I32(-5));
        assert_eq!(
            parse_like(Value::I32(0), "0xffffffff").unwrap(),
            Value::I32(-1)
        );
        assert!(parse_like(Value::I32(0), "4294967296").is_err());
        assert!(parse_like(Value::I32(0), "1.5").is_err());
        assert_eq!(
            parse_like(Value::I64(0), "-9223372036854775808").unwrap(),
            Value::I64(i64::MIN)
        );
        assert_eq!(
            parse_like(Value::F32(0), "1.5").unwrap(),
            Value::F32(1.5f32.to_bits())
        );
        assert!(parse_like(Value::FuncRef(None), "1").is_err());
    }
}
