//! Engine (e) of the kernel suite: the wasm3 interpreter (the `wasm3` crate, whose -sys crate
//! bundles wasm3's C source and builds it for i686 with the harness; see [`WASM3`]), the
//! fastest widely used interpreter, as the second anchor beside wasmi (issue 14).

use super::BenchError;
use super::kernels::Engine;

/// Which interpreter (e) is.
pub const WASM3: &str = "wasm3 0.4.7 (C, the wasm3 0.3.1 crate, 32-bit slots), built by gcc -O3 \
for i686 with the harness";
/// wasm3's value stack, bytes (fib(27) recurses 27 deep; the kernels need little).
const STACK_BYTES: u32 = 1024 * 1024;

/// A function of the kernels' shape, `(i32 x arity) -> i32`.
enum Function {
    Args0(wasm3::Function<'static, (), i32>),
    Args1(wasm3::Function<'static, i32, i32>),
    Args2(wasm3::Function<'static, (i32, i32), i32>),
    Args3(wasm3::Function<'static, (i32, i32, i32), i32>),
    Args4(wasm3::Function<'static, (i32, i32, i32, i32), i32>),
}

/// A module loaded in its own wasm3 runtime.
pub struct Wasm3 {
    /// The runtime. wasm3's functions borrow it, and the engine keeps both, so it lives for the
    /// rest of the process (the bench builds one per kernel module, once per run).
    runtime: &'static wasm3::Runtime,
    /// Resolved exports, by handle.
    functions: Vec<(String, Function)>,
}

fn failed(what: &str) -> impl Fn(wasm3::error::Error) -> BenchError + '_ {
    move |error| BenchError::Wasm3(format!("{what}: {error}"))
}

impl Wasm3 {
    /// Loads `wasm` (running its start function).
    pub fn new(wasm: &[u8]) -> Result<Wasm3, BenchError> {
        let environment = wasm3::Environment::new().map_err(failed("environment"))?;
        let runtime = environment
            .create_runtime(STACK_BYTES)
            .map_err(failed("runtime"))?;
        let runtime: &'static wasm3::Runtime = Box::leak(Box::new(runtime));
        runtime
            .parse_and_load_module(wasm.to_vec())
            .map_err(failed("load"))?;
        Ok(Wasm3 {
            runtime,
            functions: Vec::new(),
        })
    }

    /// `export` as a function of the kernels' shape, whatever its arity. The crate's signature
    /// check compares only as many parameters as the Rust type has (a 3-parameter function
    /// passes as a 1-parameter one), so the arities are tried from the largest down: the first
    /// that matches is the function's own.
    fn find(&self, export: &str) -> Result<Function, BenchError> {
        let runtime = self.runtime;
        let found = runtime
            .find_function(export)
            .map(Function::Args4)
            .or_else(|_| runtime.find_function(export).map(Function::Args3))
            .or_else(|_| runtime.find_function(export).map(Function::Args2))
            .or_else(|_| runtime.find_function(export).map(Function::Args1))
            .or_else(|_| {
                runtime
                    .find_function::<(), i32>(export)
                    .map(Function::Args0)
            });
        found.map_err(failed(export))
    }
}

impl Engine for Wasm3 {
    fn resolve(&mut self, export: &str) -> Result<usize, BenchError> {
        if let Some(known) = self.functions.iter().position(|(name, _)| name == export) {
            return Ok(known);
        }
        let function = self.find(export)?;
        self.functions.push((export.to_owned(), function));
        Ok(self.functions.len() - 1)
    }

    fn call(&mut self, handle: usize, args: &[i32]) -> Result<i32, BenchError> {
        let (name, function) = &self.functions[handle];
        let a = |index: usize| args.get(index).copied().unwrap_or(0);
        let result = match function {
            Function::Args0(function) => function.call(),
            Function::Args1(function) => function.call(a(0)),
            Function::Args2(function) => function.call(a(0), a(1)),
            Function::Args3(function) => function.call(a(0), a(1), a(2)),
            Function::Args4(function) => function.call(a(0), a(1), a(2), a(3)),
        };
        result.map_err(failed(name))
    }
}
