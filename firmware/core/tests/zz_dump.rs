#[test]
fn dump() {
    let src = std::env::var("WAT").unwrap_or_default();
    if src.is_empty() { return; }
    let wasm = wat::parse_str(&src).unwrap();
    let m = kplug_core::compile(&wasm, &kplug_core::CompileOptions::new(kplug_core::Isolation::Hardware)).unwrap();
    std::fs::write("/tmp/jit.bin", &m.code).unwrap();
}
