//! The module graph of every crate in the workspace has no cycle: data flows down, never back.
//!
//! A module's `use crate::…` / `super::…` paths are resolved to the module they name; an edge
//! goes between the two siblings under their nearest common ancestor (a child may use its parent's
//! items, and a parent its children's, without an edge). Test code (`#[cfg(test)]` onward) is not
//! part of the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// Reads a crate's `src/` into (module path, source text).
fn crate_modules(src: &Path) -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bin") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: Module = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            out.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// Expands a `use` tree (`a::{b, c::{d, self}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap().trim().to_string()];
    };
    let prefix = tree[..open].trim().trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| {
            if p == "self" {
                prefix.to_string()
            } else {
                format!("{prefix}::{p}")
            }
        })
        .collect()
}

/// Every module path a source text refers to, resolved against `module`.
fn references(module: &Module, text: &str) -> Vec<Module> {
    let code: String = text
        .lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    // `use` statements (at the start of a line), with their trees.
    let mut statement: Option<String> = None;
    for line in code.lines() {
        let trimmed = line.trim_start();
        let declaration = trimmed
            .strip_prefix("pub ")
            .or_else(|| trimmed.strip_prefix("pub(crate) "))
            .or_else(|| trimmed.strip_prefix("pub(super) "))
            .unwrap_or(trimmed);
        if statement.is_none()
            && let Some(rest) = declaration.strip_prefix("use ")
        {
            statement = Some(String::new());
            statement.as_mut().unwrap().push_str(rest);
        } else if let Some(text) = statement.as_mut() {
            text.push(' ');
            text.push_str(trimmed);
        }
        if let Some(text) = statement.take_if(|t| t.contains(';')) {
            paths.extend(expand(text.split(';').next().unwrap()));
        }
    }
    // Paths written inline.
    for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
        if word.starts_with("crate::") || word.starts_with("super::") {
            paths.push(word.to_string());
        }
    }
    paths
        .into_iter()
        .filter_map(|p| {
            let segments: Vec<&str> = p.split("::").filter(|s| !s.is_empty()).collect();
            let mut resolved: Module = match *segments.first()? {
                "crate" => Vec::new(),
                "super" | "self" => module.clone(),
                _ => return None,
            };
            let mut iter = segments.iter().skip(1).peekable();
            if segments[0] == "super" {
                resolved.pop();
                while iter.peek() == Some(&&"super") {
                    iter.next();
                    resolved.pop();
                }
            }
            resolved.extend(iter.map(|s| s.to_string()));
            Some(resolved)
        })
        .collect()
}

/// The sibling edges of a crate: (parent, from child, to child).
fn edges(modules: &BTreeMap<Module, String>) -> BTreeSet<(Module, String, String)> {
    let mut out = BTreeSet::new();
    for (module, text) in modules {
        for mut target in references(module, text) {
            while !target.is_empty() && !modules.contains_key(&target) {
                target.pop();
            }
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common < module.len() && common < target.len() {
                out.insert((
                    module[..common].to_vec(),
                    module[common].clone(),
                    target[common].clone(),
                ));
            }
        }
    }
    out
}

/// One cycle among siblings, if there is one.
fn find_cycle(edges: &BTreeSet<(Module, String, String)>) -> Option<Vec<String>> {
    let mut graph: BTreeMap<(Module, String), Vec<String>> = BTreeMap::new();
    for (parent, from, to) in edges {
        graph
            .entry((parent.clone(), from.clone()))
            .or_default()
            .push(to.clone());
    }
    fn visit(
        graph: &BTreeMap<(Module, String), Vec<String>>,
        parent: &Module,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<(Module, String)>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if !done.insert((parent.clone(), node.to_string())) {
            return None;
        }
        path.push(node.to_string());
        for next in graph
            .get(&(parent.clone(), node.to_string()))
            .into_iter()
            .flatten()
        {
            if let Some(cycle) = visit(graph, parent, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    for (parent, node) in graph.keys() {
        let mut path = Vec::new();
        if let Some(mut cycle) = visit(&graph, parent, node, &mut path, &mut BTreeSet::new()) {
            if !parent.is_empty() {
                cycle = cycle
                    .into_iter()
                    .map(|c| format!("{}::{c}", parent.join("::")))
                    .collect();
            }
            return Some(cycle);
        }
    }
    None
}

#[test]
fn no_crate_has_a_module_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for krate in ["harness", "mock-upstream", "usage-protocol"] {
        let modules = crate_modules(&root.join(krate).join("src"));
        assert!(modules.len() > 3, "{krate}: no modules found");
        if let Some(cycle) = find_cycle(&edges(&modules)) {
            panic!("{krate}: module cycle {}", cycle.join(" → "));
        }
        checked += modules.len();
    }
    assert!(checked > 30);
}

#[test]
fn a_planted_cycle_is_found() {
    let module = |p: &str| -> Module { p.split("::").map(str::to_string).collect() };
    let mut modules = BTreeMap::new();
    modules.insert(Vec::new(), "pub mod a; pub mod b; pub mod c;".to_string());
    modules.insert(module("a"), "use crate::b::Thing;".to_string());
    modules.insert(
        module("b"),
        "use crate::{c::{self, Other}, x};\n// use crate::a;".to_string(),
    );
    modules.insert(module("c"), "fn f() { crate::a::g() }".to_string());
    let cycle = find_cycle(&edges(&modules)).expect("a → b → c → a is a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4, "{cycle:?}");
    // Break it in c: no cycle; a parent using its child and a child its parent are fine.
    modules.insert(module("c"), "fn f() {}".to_string());
    modules.insert(module("b::inner"), "use super::super::b;".to_string());
    assert_eq!(find_cycle(&edges(&modules)), None);
    // Siblings inside a module are held to the same rule.
    modules.insert(module("b::x"), "use super::y::T;".to_string());
    modules.insert(module("b::y"), "use crate::b::x::U;".to_string());
    assert!(find_cycle(&edges(&modules)).is_some());
}
