//! The firmware's imports, declared once with [`firmware_imports!`]: the same tokens give the
//! `extern` block of wasm32 builds, the host fake's entry points, and the [`IMPORTS`] table that
//! a workspace test checks against the firmware symbol table in `plugin-format`.

/// A WebAssembly value type, as the firmware symbol table spells it.
///
/// The same names as `plugin-format`'s `ValType`, on purpose not shared: the SDK depends on
/// nothing, since `kplug new` copies it into projects outside this workspace. The workspace
/// test `tests/imports.rs` compares the two tables by these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValType {
    /// 32-bit integer (also every pointer and length on wasm32).
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
}

impl ValType {
    /// The text-format name: `i32`, `i64`, `f32`, `f64`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
        }
    }
}

/// The WebAssembly type a Rust parameter or result type has on wasm32.
trait WasmType {
    /// Its value type.
    const TYPE: ValType;
}

macro_rules! wasm_types {
    ($($rust:ty => $wasm:ident),* $(,)?) => {
        $(impl WasmType for $rust {
            const TYPE: ValType = ValType::$wasm;
        })*
    };
}

// On wasm32, pointers and `usize` are 32 bits wide.
wasm_types! {
    i32 => I32, u32 => I32, usize => I32, *const u8 => I32, *mut u8 => I32,
    i64 => I64, u64 => I64, f32 => F32, f64 => F64,
}

/// One import the SDK declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Import {
    /// The import module (`env`).
    pub module: &'static str,
    /// The import's name.
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [ValType],
    /// Result types.
    pub results: &'static [ValType],
}

/// The version of the firmware symbol table these imports follow (`plugin-format`'s
/// `SYMBOL_TABLE_VERSION`; a test keeps them equal).
pub const SYMBOL_TABLE_VERSION: u16 = 1;

/// Declares the firmware's imports: on wasm32 as an `extern` block of import module `$module`;
/// elsewhere as functions of the same signatures that call the fake firmware in `crate::host`
/// (a missing fake is a compile error). [`IMPORTS`] lists them with their wasm types.
macro_rules! firmware_imports {
    (
        module $module:literal;
        $(
            $(#[doc = $doc:literal])*
            fn $name:ident($($parameter:ident: $type:ty),* $(,)?) $(-> $result:ty)?;
        )*
    ) => {
        /// The firmware's imports exactly as the plugin declares them (module `env`), for code
        /// that needs them raw. Prefer the safe wrappers at the crate root.
        ///
        /// # Safety
        ///
        /// Each pointer/length pair must be a range of this plugin's memory; the firmware
        /// checks it again and traps the plugin with `import rejected an argument` if it is
        /// not. A GPIO pin above 7 traps the same way.
        pub mod raw {
            #[cfg(target_arch = "wasm32")]
            #[link(wasm_import_module = $module)]
            unsafe extern "C" {
                $(
                    $(#[doc = $doc])*
                    pub fn $name($($parameter: $type),*) $(-> $result)?;
                )*
            }

            $(
                $(#[doc = $doc])*
                ///
                /// # Safety
                ///
                /// See the module's documentation.
                #[cfg(not(target_arch = "wasm32"))]
                pub unsafe fn $name($($parameter: $type),*) $(-> $result)? {
                    // SAFETY: the caller upholds this function's contract, which is the fake's.
                    unsafe { crate::host::imports::$name($($parameter),*) }
                }
            )*
        }

        /// Every import in [`raw`], with its module, name and wasm signature.
        pub const IMPORTS: &[Import] = &[
            $(Import {
                module: $module,
                name: stringify!($name),
                params: &[$(<$type as WasmType>::TYPE),*],
                results: &[$(<$result as WasmType>::TYPE)?],
            }),*
        ];
    };
}

firmware_imports! {
    module "env";
    /// `log(ptr, len)`: writes `len` bytes of UTF-8 text at `ptr` to the firmware log.
    fn log(pointer: *const u8, length: usize);
    /// `now_us() -> i32`: the low 32 bits of microseconds since boot.
    fn now_us() -> u32;
    /// `ticks_ms() -> i32`: the low 32 bits of milliseconds since boot (PIT ticks).
    fn ticks_ms() -> u32;
    /// `gpio_write(pin, level)`: drives output `pin` (0..=7) low if `level` is 0, else high.
    fn gpio_write(pin: u32, level: u32);
    /// `gpio_read(pin) -> i32`: the level of `pin` (0..=7), 0 or 1.
    fn gpio_read(pin: u32) -> u32;
    /// `emit(ptr, len)`: sends `len` bytes at `ptr` to the host as plugin output.
    fn emit(pointer: *const u8, length: usize);
}
