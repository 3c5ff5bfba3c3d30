//! STYLE §10: the crate's modules form a tree, not a web.
//!
//! Reads `src/` and builds the import graph between the crate's top-level
//! modules (a backend's submodules, `sqlite/records.rs`, count as part of
//! `sqlite`). An edge `a -> b` is any `crate::b::…` path in `a`, or a
//! `crate::Name` (or `use crate::{Name, …}`) where `lib.rs` re-exports `Name`
//! from `b`. Comments and string literals are ignored; test modules count.
//!
//! The test fails on any import cycle, except through an edge listed in
//! `KNOWN_BACK_EDGES`, the cycles not yet broken. That list only shrinks: an
//! entry that no longer closes a cycle fails the test too, so it is removed
//! as soon as its cycle is gone.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Edges that still close an import cycle, each `(from, to)`. Empty when the
/// module graph is a tree, as it is now: the last one, `backend -> store`,
/// went when `Backend` became the sum of the engine's `TransactionControl`
/// (below `block`) and the record seam's `RecordBackend` (in `store`),
/// defined above both (docs/ARCHITECTURE.md, "The module tree").
const KNOWN_BACK_EDGES: &[(&str, &str)] = &[];

type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn the_module_graph_has_no_cycles_but_the_known_ones() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    println!("{}", render(&graph));

    let mut problems = Vec::new();
    let full_components = strongly_connected(&graph);
    for &(from, to) in KNOWN_BACK_EDGES {
        let closes_a_cycle = graph.get(from).is_some_and(|deps| deps.contains(to))
            && full_components
                .iter()
                .any(|c| c.contains(from) && c.contains(to));
        if !closes_a_cycle {
            problems.push(format!(
                "{from} -> {to} no longer closes a cycle: remove it from KNOWN_BACK_EDGES"
            ));
        }
    }

    let mut reduced = graph.clone();
    for &(from, to) in KNOWN_BACK_EDGES {
        if let Some(deps) = reduced.get_mut(from) {
            deps.remove(to);
        }
    }
    for component in strongly_connected(&reduced) {
        let edges: Vec<String> = component
            .iter()
            .flat_map(|m| {
                reduced[m]
                    .iter()
                    .filter(|d| component.contains(*d))
                    .map(move |d| format!("{m} -> {d}"))
            })
            .collect();
        problems.push(format!(
            "import cycle between {:?} (edges: {}); a third, smaller module is missing (STYLE §10)",
            component,
            edges.join(", ")
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_a_cycle_made_by_a_root_re_export() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let src = dir.path();
    fs::create_dir(src.join("b")).expect("create src/b");
    fs::write(src.join("lib.rs"), "mod a;\nmod b;\npub use a::Thing;\n").expect("write lib.rs");
    fs::write(
        src.join("a.rs"),
        "// crate::b::Commented is not an edge\nuse crate::b::{self, Other};\npub struct Thing;\n",
    )
    .expect("write a.rs");
    fs::write(src.join("b.rs"), "pub struct Other;\nmod c;\n").expect("write b.rs");
    fs::write(
        src.join("b").join("c.rs"),
        "const S: &str = \"crate::z\";\nfn f(_: crate::Thing) { let _ = '\"'; }\n",
    )
    .expect("write b/c.rs");
    let graph = module_graph(src);
    assert_eq!(render(&graph), "a -> b\nb -> a");
    assert_eq!(strongly_connected(&graph), vec![set(&["a", "b"])]);
}

#[test]
fn the_checker_reads_nested_use_groups_at_their_first_level_only() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let src = dir.path();
    fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\nmod c;\npub use c::Other;\n",
    )
    .expect("write lib.rs");
    fs::write(
        src.join("a.rs"),
        "use crate::{b::{Other, c}, Other as O};\n",
    )
    .expect("write a.rs");
    fs::write(src.join("b.rs"), "").expect("write b.rs");
    fs::write(src.join("c.rs"), "/* crate::a */\n").expect("write c.rs");
    assert_eq!(render(&module_graph(src)), "a -> b c\nb -> \nc -> ");
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn render(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(m, deps)| {
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            format!("{m} -> {}", deps.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The import graph of the crate whose `lib.rs` is in `src`.
fn module_graph(src: &Path) -> Graph {
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).expect("file under src");
        let top = relative
            .components()
            .next()
            .expect("a path component")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let text = fs::read_to_string(&file).expect("read a source file");
        sources.entry(top).or_default().push_str(&code_only(&text));
    }
    let lib = sources.remove("lib").expect("src/lib.rs");
    let modules: BTreeSet<String> = sources.keys().cloned().collect();

    // `pub use module::{A, B}` / `pub use module::A` in lib.rs: A and B live in module.
    let mut reexported: BTreeMap<String, String> = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(at) = statement.find("pub use ") else {
            continue;
        };
        let rest = &statement[at + "pub use ".len()..];
        let rest = rest.trim_start_matches("crate::");
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        if !modules.contains(module) {
            continue;
        }
        for item in first_level_names(items) {
            reexported.insert(item, module.to_string());
        }
        if let Some((_, alias)) = items.rsplit_once(" as ") {
            reexported.insert(alias.trim().to_string(), module.to_string());
        }
    }

    let resolve = |name: &str| -> Option<String> {
        if modules.contains(name) {
            Some(name.to_string())
        } else {
            reexported.get(name).cloned()
        }
    };

    let mut graph = Graph::new();
    for (module, code) in &sources {
        let mut deps = BTreeSet::new();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            let before = &code[..code.len() - rest.len() + at];
            rest = &rest[at + "crate::".len()..];
            // `$crate::` and `foo_crate::` are not paths of this crate.
            if before.ends_with(|c: char| c == '$' || c == '_' || c.is_alphanumeric()) {
                continue;
            }
            let names: Vec<String> = if rest.starts_with('{') {
                first_level_names(&rest[..group_end(rest)])
            } else {
                vec![leading_ident(rest).to_string()]
            };
            deps.extend(names.iter().filter_map(|n| resolve(n)));
        }
        deps.remove(module);
        graph.insert(module.clone(), deps);
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn leading_ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c == '_' || c.is_alphanumeric()))
        .unwrap_or(s.len());
    &s[..end]
}

/// The length of the `{…}` group `s` starts with, braces included.
fn group_end(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// The names a `use` tree names at its first level: `{a::{B, C}, D as E, self}`
/// gives `a` and `D`; `A` gives `A`.
fn first_level_names(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(inner) = tree.strip_prefix('{') else {
        return vec![leading_ident(tree).to_string()];
    };
    let inner = inner.strip_suffix('}').unwrap_or(inner);
    let mut names = Vec::new();
    let mut depth = 0;
    let mut start = true;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => start = true,
            c if start && depth == 0 && !c.is_whitespace() => {
                start = false;
                let name = leading_ident(&inner[i..]);
                if !name.is_empty() && name != "self" {
                    names.push(name.to_string());
                }
            }
            _ => {}
        }
    }
    names
}

/// `text` with comments removed and string and character literals emptied.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !out.ends_with(|p: char| p == '_' || p.is_alphanumeric())
        {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}'), or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Tarjan's strongly connected components of more than one module.
fn strongly_connected(graph: &Graph) -> Vec<BTreeSet<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<BTreeSet<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = BTreeSet::new();
            loop {
                let w = s.stack.pop().expect("v is on the stack");
                s.on_stack.remove(w);
                component.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}
