//! Which source file of a crate uses which, and the cycles among them: a
//! file that reaches, through `crate::` and `super::` paths, a file that
//! reaches it back.
//!
//! Why a guard of our own: a cycle between files is how a crate stops
//! reading as config → builder → running thing, and nothing in rustc or
//! clippy reports one. The quick tier's test here keeps the workspace at
//! none. Owns a textual reading of the sources, not a parse: it sees `use`
//! and expression paths alike, resolves a `pub use` re-export to the file
//! that defines the item, skips comments and test modules, and counts a
//! parent's use of `child::…` (but not `mod child;` or a re-export) as an
//! edge. It must never be used as anything but a lint: macros, strings and
//! glob imports can hide or fake an edge.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// A module's path inside its crate (`["runtime", "spawn"]`); the crate
/// root is the empty path.
pub type ModPath = Vec<String>;

/// The files of one crate and the edges between them.
#[derive(Debug, Default)]
pub struct ModuleGraph {
    pub edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

impl ModuleGraph {
    /// Reads every `.rs` file under `src` (a crate's `src/`).
    pub fn read(src: &Path) -> Result<ModuleGraph> {
        let mut files = Vec::new();
        collect_rs(src, &mut files)?;
        let mut sources = BTreeMap::new();
        for f in files {
            let text = std::fs::read_to_string(&f).at(&f)?;
            let rel = f.strip_prefix(src).unwrap_or(&f);
            sources.insert(module_path(rel), (file_name(rel), text));
        }
        Ok(ModuleGraph::from_sources(&sources))
    }

    /// `sources`: module path → (file name, text).
    pub fn from_sources(sources: &BTreeMap<ModPath, (String, String)>) -> ModuleGraph {
        let modules: BTreeSet<ModPath> = sources.keys().cloned().collect();
        let cleaned: BTreeMap<&ModPath, String> = sources.iter().map(|(m, (_, t))| (m, clean(t))).collect();
        let mut reexports: HashMap<(ModPath, String), ModPath> = HashMap::new();
        for (m, text) in &cleaned {
            for (child, name) in pub_uses(text) {
                let mut target = (*m).clone();
                target.push(child);
                if modules.contains(&target) {
                    reexports.insert(((*m).clone(), name), target);
                }
            }
        }
        let resolve = |path: &[String]| -> Option<ModPath> {
            let mut cand: ModPath = path.to_vec();
            while !cand.is_empty() && !modules.contains(&cand) {
                cand.pop();
            }
            if !modules.contains(&cand) {
                return None;
            }
            if let Some(next) = path.get(cand.len())
                && let Some(defining) = reexports.get(&(cand.clone(), next.clone()))
            {
                return Some(defining.clone());
            }
            Some(cand)
        };
        let mut graph = ModuleGraph::default();
        for (m, text) in &cleaned {
            let (file, _) = &sources[*m];
            if file.contains("tests") {
                continue;
            }
            let out = graph.edges.entry((*m).clone()).or_default();
            for path in crate_paths(text, m) {
                if let Some(target) = resolve(&path)
                    && &target != *m
                {
                    out.insert(target);
                }
            }
            if matches!(file.as_str(), "mod.rs" | "lib.rs" | "main.rs") {
                let body = without_declarations(text);
                for child in modules.iter().filter(|c| c.len() == m.len() + 1 && c.starts_with(m)) {
                    if mentions_path_root(&body, &child[m.len()]) {
                        out.insert(child.clone());
                    }
                }
            }
        }
        graph
    }

    /// Strongly connected groups of more than one file (Tarjan).
    pub fn cycles(&self) -> Vec<Vec<ModPath>> {
        let nodes: Vec<&ModPath> = self.edges.keys().collect();
        let index_of: HashMap<&ModPath, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let succ: Vec<Vec<usize>> =
            nodes.iter().map(|n| self.edges[*n].iter().filter_map(|t| index_of.get(t).copied()).collect()).collect();
        let mut tarjan = Tarjan::new(nodes.len());
        for v in 0..nodes.len() {
            if tarjan.index[v].is_none() {
                tarjan.visit(v, &succ);
            }
        }
        tarjan.groups.into_iter().map(|g| g.into_iter().map(|i| nodes[i].clone()).collect()).collect()
    }
}

struct Tarjan {
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    groups: Vec<Vec<usize>>,
}

impl Tarjan {
    fn new(n: usize) -> Tarjan {
        Tarjan {
            index: vec![None; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            next: 0,
            groups: Vec::new(),
        }
    }

    fn visit(&mut self, v: usize, succ: &[Vec<usize>]) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &succ[v] {
            match self.index[w] {
                None => {
                    self.visit(w, succ);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut group = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                group.push(w);
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                self.groups.push(group);
            }
        }
    }
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

fn file_name(rel: &Path) -> String {
    rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A file's module path from its path relative to `src/`.
pub fn module_path_of(rel: &Path) -> ModPath {
    module_path(rel)
}

fn module_path(rel: &Path) -> ModPath {
    let mut parts: ModPath = rel.with_extension("").iter().map(|c| c.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|l| matches!(l.as_str(), "mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// Without comments, without the trailing `#[cfg(test)] mod tests { … }`,
/// and with `pub(super)`/`pub(crate)`/`pub(in …)` as plain `pub` (a
/// visibility names no file it uses).
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        out.push_str(code);
        out.push('\n');
    }
    let out = strip_test_modules(&out);
    let mut s = out;
    while let Some(at) = s.find("pub(") {
        let Some(len) = s[at..].find(')') else { break };
        s.replace_range(at..at + len + 1, "pub");
    }
    s
}

/// Without its `#[cfg(test)] mod name { … }` blocks (braces counted;
/// the tests may use anything).
fn strip_test_modules(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("#[cfg(test)]") {
        let after = rest[i + "#[cfg(test)]".len()..].trim_start();
        let is_module = after.starts_with("mod ") && after.find('{').is_some_and(|b| !after[..b].contains(';'));
        if !is_module {
            out.push_str(&rest[..i + 1]);
            rest = &rest[i + 1..];
            continue;
        }
        out.push_str(&rest[..i]);
        let open = rest.len() - after.len() + after.find('{').unwrap_or(0);
        let mut depth = 0usize;
        let mut end = rest.len();
        for (j, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `pub use child::{a, b as c};` and `pub use child::a;` → (child, name).
fn pub_uses(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for stmt in statements_starting(text, "pub use ") {
        let body = stmt.trim_start_matches("pub use ").trim_start_matches("self::");
        let Some((child, rest)) = body.split_once("::") else { continue };
        let rest = rest.trim().trim_start_matches('{').trim_end_matches('}');
        for item in rest.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let name = item.rsplit(" as ").next().unwrap_or(item).rsplit("::").next().unwrap_or(item);
            out.push((child.trim().to_string(), name.trim().to_string()));
        }
    }
    out
}

/// Statements (up to `;`) that begin a line with `prefix`.
fn statements_starting<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with(prefix) {
            let start = offset + (line.len() - trimmed.len());
            if let Some(end) = text[start..].find(';') {
                out.push(&text[start..start + end]);
            }
        }
        offset += line.len();
    }
    out
}

/// The text without `pub use …;` statements and `mod x;` lines: what is
/// left is what a parent itself does with its children.
fn without_declarations(text: &str) -> String {
    let mut s = text.to_string();
    for stmt in statements_starting(text, "pub use ") {
        s = s.replacen(stmt, "", 1);
    }
    s.lines()
        .filter(|l| {
            let t = l.trim_start().trim_start_matches("pub ");
            !(t.starts_with("mod ") && t.trim_end().ends_with(';'))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `name::` occurs as the start of a path (not after `::` or
/// inside a longer identifier).
fn mentions_path_root(text: &str, name: &str) -> bool {
    let pat = format!("{name}::");
    text.match_indices(&pat).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        !before.is_some_and(|c| is_ident(c) || c == ':')
    })
}

/// Every `crate::…` and `super::…` path in `text`, as absolute module
/// paths (a `{a, b::c}` group gives one path per item).
fn crate_paths(text: &str, module: &[String]) -> Vec<ModPath> {
    let mut out = Vec::new();
    for root in ["crate::", "super::"] {
        for (i, _) in text.match_indices(root) {
            if text[..i].chars().next_back().is_some_and(|c| is_ident(c) || c == ':') {
                continue;
            }
            let mut base: ModPath =
                if root == "crate::" { Vec::new() } else { module[..module.len().saturating_sub(1)].to_vec() };
            let mut rest = &text[i + root.len()..];
            let mut segs: Vec<String> = Vec::new();
            loop {
                let ident: String = rest.chars().take_while(|c| is_ident(*c)).collect();
                if ident.is_empty() {
                    break;
                }
                rest = &rest[ident.len()..];
                if ident == "super" && segs.is_empty() {
                    base.pop();
                } else {
                    segs.push(ident);
                }
                match rest.strip_prefix("::") {
                    Some(r) => rest = r,
                    None => break,
                }
            }
            let prefix: ModPath = base.iter().cloned().chain(segs.iter().cloned()).collect();
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                    let mut p = prefix.clone();
                    p.extend(item.split(" as ").next().unwrap_or(item).split("::").map(|s| s.trim().to_string()));
                    if p.last().is_some_and(|l| l == "self") {
                        p.pop();
                    }
                    out.push(p);
                }
            } else {
                out.push(prefix);
            }
        }
    }
    out
}

/// `module::path` for messages.
pub fn display(m: &ModPath) -> String {
    if m.is_empty() { "(crate root)".into() } else { m.join("/") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(files: &[(&str, &str)]) -> ModuleGraph {
        let sources = files
            .iter()
            .map(|(path, text)| (module_path(Path::new(path)), (file_name(Path::new(path)), text.to_string())))
            .collect();
        ModuleGraph::from_sources(&sources)
    }

    fn names(cycles: &[Vec<ModPath>]) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = cycles
            .iter()
            .map(|g| {
                let mut n: Vec<String> = g.iter().map(display).collect();
                n.sort();
                n
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_sibling_cycle_and_a_parent_child_cycle_are_found() {
        let g = graph(&[
            ("main.rs", "mod a;\nmod b;\nmod hub;\nfn main() {}\n"),
            ("a.rs", "use crate::b::B;\npub struct A;\n"),
            ("b.rs", "use super::a::A;\npub struct B;\n"),
            ("hub/mod.rs", "mod leaf;\npub struct Shared;\npub fn go() { leaf::run() }\n"),
            ("hub/leaf.rs", "use super::Shared;\npub fn run() {}\n"),
        ]);
        assert_eq!(names(&g.cycles()), vec![vec!["a", "b"], vec!["hub", "hub/leaf"]]);
    }

    #[test]
    fn re_exports_comments_visibility_and_tests_make_no_edge() {
        let g = graph(&[
            ("lib.rs", "pub mod hub;\n"),
            // The parent only declares and re-exports its child.
            ("hub/mod.rs", "mod leaf;\nmod other;\npub use leaf::{Thing, helper as h};\n// leaf::run() in a comment\n"),
            // The child names the parent, but only for what the sibling defines.
            // Its test module may use a file that uses it.
            (
                "hub/leaf.rs",
                "pub(super) struct Thing;\npub fn helper() {}\n#[cfg(test)]\nmod leaf_tests {\n    fn f() { if true { crate::hub::other::after() } }\n}\n",
            ),
            (
                "hub/other.rs",
                "use super::Thing;\n#[cfg(test)]\nmod other_tests {\n    use super::*;\n    fn f() { crate::hub::leaf::helper() }\n}\npub fn after() {}\n",
            ),
            ("hub/tests.rs", "use super::other::*;\n"),
        ]);
        assert!(g.cycles().is_empty(), "{:?}", g.edges);
        assert!(g.edges[&vec!["hub".to_string(), "other".to_string()]].contains(&vec!["hub".into(), "leaf".into()]));
    }

    #[test]
    fn the_workspace_has_no_import_cycles_between_files() {
        let root = crate::paths::workspace_root();
        let mut found = Vec::new();
        for krate in ["vmm/src", "guest-agent/src", "host-cli/src", "xtask/src", "http-client/src", "docker-vocab/src"]
        {
            let g = ModuleGraph::read(&root.join(krate)).expect("read the crate");
            assert!(g.edges.len() > 5, "{krate}: too few files read");
            for cycle in g.cycles() {
                let members: BTreeSet<&ModPath> = cycle.iter().collect();
                let edges: Vec<String> = cycle
                    .iter()
                    .flat_map(|m| {
                        g.edges[m]
                            .iter()
                            .filter(|t| members.contains(t))
                            .map(move |t| format!("{} -> {}", display(m), display(t)))
                    })
                    .collect();
                found.push(format!("{krate}: {}", edges.join(", ")));
            }
        }
        assert!(
            found.is_empty(),
            "files that import each other (move what both need to a file of its own):\n{}",
            found.join("\n")
        );
    }
}
