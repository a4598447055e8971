//! `cargo xtask layers`: the server's top-level modules and who imports
//! whom, checked against the layering in `server/src/lib.rs`.
//!
//! A module may use modules of its own layer or of layers above it in
//! [`LAYERS`] (lower layers never import higher ones), and the imports
//! between top-level modules form no cycle. The event core names no wire
//! type. Imports are read as text (`crate::<module>` outside comments), so
//! the check needs no compiler and runs in `cargo test -p xtask`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The server's top-level modules, bottom layer first.
pub const LAYERS: &[&[&str]] = &[
    &["config", "error", "telemetry", "metrics"],
    &["db"],
    &["events", "auth", "secrets"],
    &["agents", "notifications", "worktrees"],
    &["executions"],
    &["runners"],
    &["workflows"],
    &["issues"],
    &["github"],
    &["repositories"],
    &["state"],
    &["http", "ws"],
    &["server", "doctor"],
    &["cli"],
];

/// Longest a source file may be before it needs a reason to stay whole.
pub const MAX_LINES: usize = 600;

/// Files allowed past [`MAX_LINES`], with the reason.
pub const LONG_FILES: &[(&str, &str)] = &[];

pub type Graph = BTreeMap<String, BTreeSet<String>>;

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src` belongs to (`None` for lib.rs and main.rs).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// Code without comments, line by line (doc links are not imports).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|l| {
        let code = l.split("//").next().unwrap_or("");
        (!code.trim().is_empty()).then_some(code)
    })
}

/// `crate::<name>` references in a statement (`use crate::{a, b::c}`
/// names several).
fn crate_refs(line: &str) -> Vec<String> {
    fn ident(s: &str) -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    }
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // The names at the group's own depth.
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(ident(&group[start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident(&group[start..j]));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(after));
        }
        rest = after;
    }
    out.retain(|n| !n.is_empty());
    out
}

/// Who imports whom among the top-level modules of `src`.
pub fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    // A `use crate::{…}` may span lines: joined per statement below.
    for file in files {
        let Some(module) = module_of(src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let code: String = code_lines(&text).collect::<Vec<_>>().join("\n");
        let mut refs = Vec::new();
        for statement in code.split(';') {
            let joined = statement.replace('\n', " ");
            refs.extend(crate_refs(&joined));
        }
        let entry = graph.entry(module.clone()).or_default();
        for r in refs {
            if r != module && layer_of(&r).is_some() {
                entry.insert(r);
            }
        }
    }
    graph
}

/// Every rule the layout breaks, as sentences.
pub fn problems(src: &Path) -> Vec<String> {
    let graph = graph(src);
    let mut out = Vec::new();
    for module in graph.keys() {
        if layer_of(module).is_none() {
            out.push(format!(
                "server/src/{module} is in no layer of xtask's LAYERS"
            ));
        }
    }
    for (from, tos) in &graph {
        let Some(lf) = layer_of(from) else { continue };
        for to in tos {
            if let Some(lt) = layer_of(to) {
                if lt > lf {
                    out.push(format!(
                        "{from} (layer {lf}) imports {to} (layer {lt}), a higher layer"
                    ));
                }
            }
        }
    }
    for cycle in cycles(&graph) {
        out.push(format!("import cycle: {}", cycle.join(" → ")));
    }
    // The event core is wire-format free.
    let mut events = Vec::new();
    rust_files(&src.join("events"), &mut events);
    for file in events {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if code_lines(&text).any(|l| l.contains("protocol::") || l.contains("ServerMessage")) {
            out.push(format!("{} names a wire type", file.display()));
        }
    }
    out
}

/// Files over [`MAX_LINES`] without a reason in [`LONG_FILES`].
pub fn long_files(src: &Path) -> Vec<(String, usize)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out = Vec::new();
    for file in files {
        let lines = std::fs::read_to_string(&file)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        let rel = file
            .strip_prefix(src)
            .unwrap_or(&file)
            .display()
            .to_string();
        if lines > MAX_LINES && !LONG_FILES.iter().any(|(f, _)| *f == rel) {
            out.push((rel, lines));
        }
    }
    out.sort();
    out
}

/// Strongly connected components with more than one module.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    // Kosaraju: small graphs, plain recursion is fine.
    fn visit(n: &str, g: &Graph, seen: &mut BTreeSet<String>, order: &mut Vec<String>) {
        if !seen.insert(n.to_string()) {
            return;
        }
        for m in g.get(n).into_iter().flatten() {
            visit(m, g, seen, order);
        }
        order.push(n.to_string());
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for n in graph.keys() {
        visit(n, graph, &mut seen, &mut order);
    }
    let mut reversed = Graph::new();
    for (from, tos) in graph {
        for to in tos {
            reversed.entry(to.clone()).or_default().insert(from.clone());
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for n in order.iter().rev() {
        if assigned.contains(n) {
            continue;
        }
        let mut component = Vec::new();
        let mut stack = vec![n.clone()];
        while let Some(m) = stack.pop() {
            if !assigned.insert(m.clone()) {
                continue;
            }
            component.push(m.clone());
            for k in reversed.get(&m).into_iter().flatten() {
                stack.push(k.clone());
            }
        }
        if component.len() > 1 {
            component.sort();
            out.push(component);
        }
    }
    out
}

/// `cargo xtask layers`: prints the graph and the problems; fails on any.
pub fn report() -> crate::Result {
    let src = crate::root().join("server/src");
    let graph = graph(&src);
    for layer in LAYERS.iter().rev() {
        for module in *layer {
            let uses: Vec<&str> = graph
                .get(*module)
                .map(|s| s.iter().map(String::as_str).collect())
                .unwrap_or_default();
            println!("{module:>14} → {}", uses.join(", "));
        }
    }
    let problems = problems(&src);
    for (file, lines) in long_files(&src) {
        println!("note: server/src/{file} has {lines} lines (over {MAX_LINES})");
    }
    if problems.is_empty() {
        println!("layers: no cycle, no import of a higher layer");
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_imports_but_not_comments() {
        assert_eq!(
            crate_refs("use crate::{db::{self, x}, events::Hub, auth};"),
            vec!["db", "events", "auth"]
        );
        let code: Vec<&str> =
            code_lines("/// see [`crate::http`]\nlet a = crate::db::x(); // crate::ws\n").collect();
        assert_eq!(code, vec!["let a = crate::db::x(); "]);
    }

    #[test]
    fn finds_cycles() {
        let mut g = Graph::new();
        g.entry("a".into()).or_default().insert("b".into());
        g.entry("b".into()).or_default().insert("c".into());
        g.entry("c".into()).or_default().insert("a".into());
        g.entry("d".into()).or_default().insert("a".into());
        assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    }

    /// The server as it is: layered, acyclic, no wire type in the core,
    /// no file past the limit without a reason.
    #[test]
    fn the_server_keeps_its_layers() {
        let src = crate::root().join("server/src");
        let problems = problems(&src);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        let long = long_files(&src);
        assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
    }
}
