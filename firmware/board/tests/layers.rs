//! The board firmware's module graph (read from its sources, on the host): layers depend one way
//! — `arch` on nothing above it, `platform` on `arch`, `services` on both, `main.rs` on all — and
//! no module depends on itself through others. Modules that contain no `unsafe` forbid it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first; a module may refer to its own layer and the ones before it.
const LAYERS: [&str; 4] = ["arch", "platform", "services", "main"];

/// One source file: its module path (`platform::isolation`), its text without comments.
struct Module {
    path: String,
    file: PathBuf,
    code: String,
}

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The module path of `file` under `src/` (`arch/cpu.rs` -> `arch::cpu`, `arch/mod.rs` ->
/// `arch`, `main.rs` -> `main`).
fn module_path(file: &Path) -> String {
    let relative = file.strip_prefix(source_dir()).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts.join("::")
}

fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn modules() -> Vec<Module> {
    let mut files = Vec::new();
    let mut pending = vec![source_dir()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|file| Module {
            path: module_path(&file),
            code: strip_comments(&std::fs::read_to_string(&file).unwrap()),
            file,
        })
        .collect()
}

fn layer_of(path: &str) -> usize {
    let top = path.split("::").next().unwrap();
    LAYERS
        .iter()
        .position(|layer| *layer == top)
        .unwrap_or_else(|| {
            panic!("module `{path}` is in no layer (arch, platform, services or main.rs)")
        })
}

/// The modules `module` refers to: `crate::a::b` paths (resolved to the longest known module),
/// and its own child modules used by relative paths.
fn references(module: &Module, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let code = &module.code;
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let target = (1..=segments.len())
            .rev()
            .map(|n| segments[..n].join("::"))
            .find(|candidate| known.contains(candidate));
        if let Some(target) = target {
            found.insert(target);
        }
    }
    for child in known {
        let Some(name) = child
            .strip_prefix(&module.path)
            .and_then(|rest| rest.strip_prefix("::"))
        else {
            continue;
        };
        if name.contains("::") {
            continue;
        }
        let used = code.contains(&format!("{name}::")) || code.contains(&format!("{name}::{{"));
        if used && !code.contains(&format!("crate::{child}")) {
            found.insert(child.clone());
        }
    }
    found.remove(&module.path);
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let known: BTreeSet<String> = modules.iter().map(|module| module.path.clone()).collect();
    modules
        .iter()
        .map(|module| (module.path.clone(), references(module, &known)))
        .collect()
}

/// No module refers to a layer above its own.
#[test]
fn layers_depend_one_way() {
    let graph = graph();
    assert!(graph.len() > 20, "the walk found the sources: {graph:?}");
    let mut violations = Vec::new();
    for (from, targets) in &graph {
        for to in targets {
            if layer_of(to) > layer_of(from) {
                violations.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "modules that call up a layer:\n{}",
        violations.join("\n")
    );
}

/// The module graph has no cycle (a parent module and its children count as separate nodes).
#[test]
fn module_graph_has_no_cycle() {
    let graph = graph();
    // Depth-first search with colours: 1 = on the current path, 2 = done.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        colour: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match colour.get(node) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|entry| entry == node).unwrap();
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        colour.insert(node.to_string(), 1);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, colour, path) {
                return Some(cycle);
            }
        }
        path.pop();
        colour.insert(node.to_string(), 2);
        None
    }
    let mut colour = BTreeMap::new();
    for node in graph.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(node, &graph, &mut colour, &mut path) {
            panic!("module cycle: {}", cycle.join(" -> "));
        }
    }
}

/// Every module file that uses no `unsafe` forbids it (`mod.rs` files, which only declare their
/// children, excepted: an inner `forbid` there would cover the children too).
#[test]
fn modules_without_unsafe_forbid_it() {
    let mut missing = Vec::new();
    for module in modules() {
        let is_mod_file = module.file.file_name().is_some_and(|name| name == "mod.rs");
        if is_mod_file || module.path == "main" {
            continue;
        }
        let forbids = module.code.contains("#![forbid(unsafe_code)]");
        let uses_unsafe = module
            .code
            .replace("#![forbid(unsafe_code)]", "")
            .contains("unsafe");
        if !uses_unsafe && !forbids {
            missing.push(module.path);
        }
    }
    assert!(
        missing.is_empty(),
        "modules without unsafe code that do not forbid it: {missing:?}"
    );
}

/// The checker sees a violation when there is one (a fabricated upward call and cycle).
#[test]
fn the_checker_finds_an_upward_call_and_a_cycle() {
    let known: BTreeSet<String> = ["arch", "arch::cpu", "platform", "platform::irq"]
        .map(String::from)
        .into();
    let module = Module {
        path: "arch::cpu".into(),
        file: PathBuf::from("arch/cpu.rs"),
        code: "fn f() { crate::platform::irq::dispatch(0); }".into(),
    };
    let found = references(&module, &known);
    assert!(found.contains("platform::irq"));
    assert!(layer_of("platform::irq") > layer_of("arch::cpu"));
}
