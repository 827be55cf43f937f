//! The plugin table: a fixed number of slots, each holding one installed plugin with its name
//! and statistics. Loading is compile -> install -> link -> start; unloading is unlink ->
//! uninstall, which returns every byte and descriptor slot.

use crate::compiler::{CompileOptions, compile};
use crate::error::{CompileError, InvokeError, LoadError};
use crate::imports::ImportHost;
use crate::instance::{Outcome, Platform, Plugin};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use plugin_format::limits::CheckedLimits;
use plugin_format::message::Value;

/// A plugin's id: its slot index.
pub type PluginId = u32;

/// Why [`PluginTable::load`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    /// The module did not compile.
    Compile(CompileError),
    /// It compiled but could not be installed, linked or started.
    Load(LoadError),
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::Compile(error) => write!(f, "{error}"),
            TableError::Load(error) => write!(f, "{error}"),
        }
    }
}

impl core::error::Error for TableError {}

impl From<CompileError> for TableError {
    fn from(error: CompileError) -> TableError {
        TableError::Compile(error)
    }
}

impl From<LoadError> for TableError {
    fn from(error: LoadError) -> TableError {
        TableError::Load(error)
    }
}

/// One occupied slot.
pub struct Entry<P: Platform> {
    /// The plugin's name.
    pub name: String,
    /// The plugin.
    pub plugin: Plugin<P>,
}

/// The plugin table.
pub struct PluginTable<P: Platform> {
    slots: Vec<Option<Entry<P>>>,
}

impl<P: Platform> PluginTable<P> {
    /// A table of `capacity` slots.
    pub fn new(capacity: usize) -> PluginTable<P> {
        let mut slots = Vec::with_capacity(capacity);
        slots.resize_with(capacity, || None);
        PluginTable { slots }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn free_slot(&self) -> Option<usize> {
        self.slots.iter().position(Option::is_none)
    }

    /// Compiles, installs, links and starts a plugin.
    pub fn load(
        &mut self,
        platform: &mut P,
        host: &mut dyn ImportHost,
        name: &str,
        module_bytes: &[u8],
        limits: CheckedLimits,
        options: &CompileOptions,
    ) -> Result<PluginId, TableError> {
        let slot = self.free_slot().ok_or(LoadError::TableFull)?;
        let module = compile(module_bytes, options)?;
        let plugin = Plugin::install(platform, module, limits)?.go_live(platform, host)?;
        self.slots[slot] = Some(Entry {
            name: name.into(),
            plugin,
        });
        Ok(slot as PluginId)
    }

    /// Puts an already installed (and linked) plugin in a free slot (for firmware that times
    /// install and link as separate steps). A full table (`LoadError::TableFull`) hands the
    /// plugin back, boxed.
    pub fn insert(&mut self, name: &str, plugin: Plugin<P>) -> Result<PluginId, Box<Plugin<P>>> {
        match self.free_slot() {
            Some(slot) => {
                self.slots[slot] = Some(Entry {
                    name: name.into(),
                    plugin,
                });
                Ok(slot as PluginId)
            }
            None => Err(Box::new(plugin)),
        }
    }

    /// The plugin in slot `id`.
    pub fn get(&self, id: PluginId) -> Option<&Entry<P>> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    /// The plugin in slot `id`, mutably.
    pub fn get_mut(&mut self, id: PluginId) -> Option<&mut Entry<P>> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// Every occupied slot.
    pub fn iter(&self) -> impl Iterator<Item = (PluginId, &Entry<P>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(id, entry)| entry.as_ref().map(|entry| (id as PluginId, entry)))
    }

    /// Invokes export `export` of plugin `id` with `args`, checked against its type.
    pub fn invoke(
        &mut self,
        platform: &mut P,
        host: &mut dyn ImportHost,
        id: PluginId,
        export: &str,
        args: &[Value],
    ) -> Result<Outcome, InvokeError> {
        let entry = self.get_mut(id).ok_or(InvokeError::NoSuchPlugin(id))?;
        entry.plugin.invoke(platform, host, export, args)
    }

    /// Unlinks and uninstalls plugin `id`, freeing its slot.
    pub fn unload(&mut self, platform: &mut P, id: PluginId) -> Result<(), InvokeError> {
        let entry = self
            .slots
            .get_mut(id as usize)
            .and_then(Option::take)
            .ok_or(InvokeError::NoSuchPlugin(id))?;
        entry.plugin.uninstall(platform);
        Ok(())
    }
}
