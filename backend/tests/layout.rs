//! The backend's top-level modules form layers, and a module may use only the layers below it.
//! The order is [`LAYERS`]; README's architecture paragraph writes the same order, and a test
//! holds the two together. (Doc comments may name any module; only code counts.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom up. Each top-level module of `src/` is in exactly one layer; `lib` (which wires them
/// into the server) and `main` (the command line) stand above them all.
const LAYERS: &[&str] = &[
    "clock",
    "traffic",
    "config",
    "telemetry",
    "vault",
    "registry",
    "error",
    "identity",
    "ops",
    "mcp",
    "rest",
    "console",
];

/// The top-level modules named by one `crate::…` path, `crate::{a::X, b}` included.
fn named(path: &str) -> Vec<String> {
    let word = |text: &str| -> String {
        text.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    match path.strip_prefix('{') {
        // Only the group's first level: `{a::{x, y}, b}` names a and b.
        Some(group) => {
            let mut depth = 0;
            let mut names = vec![word(group.trim_start())];
            for (at, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => names.push(word(group[at + 1..].trim_start())),
                    _ => {}
                }
            }
            names
        }
        None => vec![word(path)],
    }
}

/// The code of a source file: tests (`#[cfg(test)] mod tests`) and comments left out.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines()
        .map(|line| match line.find("//") {
            // A comment to the line's end; `//` inside a string is rare enough to ignore.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level module → the top-level modules its code (tests aside) names from the crate's root:
/// `crate::x`, or `super::x` climbing to the root (`super::` in `src/a.rs` or `src/a/mod.rs`,
/// `super::super::` in `src/a/b.rs`, …).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pending = vec![src.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap();
            let top = relative.components().next().unwrap().as_os_str();
            let top = top.to_str().unwrap().trim_end_matches(".rs").to_string();
            if top == "lib" || top == "main" {
                continue;
            }
            // How many `super::` reach the root from this file's module.
            let mut depth = relative.components().count();
            if relative.ends_with("mod.rs") {
                depth -= 1;
            }
            let root = "super::".repeat(depth);
            let code = code(&std::fs::read_to_string(&path).unwrap());
            assert!(
                !code.contains("crate as "),
                "{}: the crate renamed hides what it imports",
                relative.display()
            );
            let used = graph.entry(top.clone()).or_default();
            for prefix in ["crate::", root.as_str()] {
                for (at, _) in code.match_indices(prefix) {
                    let after = &code[at + prefix.len()..];
                    // `super::super::x` read from `super::` is not the root: skip it.
                    if prefix != "crate::" && after.starts_with("super::") {
                        continue;
                    }
                    if prefix != "crate::" && code[..at].ends_with("super::") {
                        continue;
                    }
                    for name in named(after) {
                        if !name.is_empty() && name != top && name != "self" && name != "super" {
                            used.insert(name);
                        }
                    }
                }
            }
        }
    }
    graph
}

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|m| *m == module)
        .unwrap_or_else(|| panic!("{module} is in no layer: add it to LAYERS (and README)"))
}

#[test]
fn every_module_is_in_one_layer() {
    let graph = imports();
    let declared: BTreeSet<&str> = LAYERS.iter().copied().collect();
    assert_eq!(declared.len(), LAYERS.len(), "a module is listed twice");
    let modules: BTreeSet<&str> = graph.keys().map(String::as_str).collect();
    assert_eq!(
        modules, declared,
        "src/'s top-level modules and LAYERS differ"
    );
}

#[test]
fn a_module_uses_only_the_layers_below_it() {
    let graph = imports();
    assert!(
        graph["ops"].contains("vault"),
        "the reading of imports broke"
    );
    assert!(
        graph["rest"].contains("error") && graph["rest"].contains("ops"),
        "a `crate::{{…}}` group is read: {:?}",
        graph["rest"]
    );
    let mut upward = Vec::new();
    for (module, used) in &graph {
        for other in used {
            if layer(other) >= layer(module) {
                upward.push(format!("{module} uses {other}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the layer order {LAYERS:?}: {upward:#?}"
    );
}

#[test]
fn the_readme_writes_the_same_order() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(readme).unwrap().replace('\n', " ");
    let start = text
        .find("Modules form layers, bottom up (")
        .expect("README's architecture paragraph names the layers");
    let listed = &text[start..];
    let listed = &listed[listed.find('(').unwrap() + 1..listed.find(')').unwrap()];
    let order: Vec<&str> = listed
        .split('→')
        .map(|name| name.trim().trim_matches('`'))
        .collect();
    assert_eq!(order, LAYERS, "README's layer order");
}

#[test]
fn code_leaves_out_comments_and_tests() {
    let text = "use crate::a; // crate::b\n/// crate::c\nfn f() {}\n#[cfg(test)]\nmod tests {\n use crate::d;\n}\n";
    assert_eq!(code(text).matches("crate::").count(), 1);
}

#[test]
fn a_group_names_each_of_its_modules() {
    assert_eq!(named("error::ApiError;"), ["error"]);
    assert_eq!(
        named("{error::{ApiError, Body}, vault::Vault};"),
        ["error", "vault"]
    );
}
