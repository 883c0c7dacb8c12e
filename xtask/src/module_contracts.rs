//! The module contracts that matter, checked on the file graph that
//! `module_graph` reads: which parts of a crate must never import which
//! (`network` never imports `container`; the API reaches the domains'
//! state only through the engine; domains never know the service layer or
//! HTTP).
//!
//! Why a guard: a module's top comment says what it must never do, and
//! nothing else keeps it true. Owns the list of contracts and the check;
//! it must never allow by exception a file the contract covers (change the
//! contract, in review, instead).

use crate::module_graph::{ModPath, ModuleGraph, display};

/// Files under `from` must not import files under any of `never`.
pub struct Contract {
    pub from: &'static str,
    pub never: &'static [&'static str],
    pub why: &'static str,
}

/// berth-agent's layers (see ARCHITECTURE.md): api → engine → domains →
/// runtime, and the domains apart from each other.
pub const AGENT: &[Contract] = &[
    Contract {
        from: "api",
        never: &["runtime", "network", "init", "server"],
        why: "the API decodes, calls the engine, encodes: it reaches no domain's state but through `engine`",
    },
    Contract { from: "engine", never: &["api"], why: "the service layer never speaks HTTP" },
    Contract {
        from: "network",
        never: &["container", "image", "runtime", "engine", "api"],
        why: "network records know containers only through the liveness the engine passes in",
    },
    Contract {
        from: "image",
        never: &["container", "network", "runtime", "engine", "api"],
        why: "the image store knows no containers (the engine tells it who uses what)",
    },
    Contract {
        from: "container",
        never: &["network", "volume", "engine", "api"],
        why: "container semantics know no networks, no volumes and no service layer; the engine joins them",
    },
    Contract {
        from: "volume",
        never: &["container", "image", "network", "runtime", "engine", "api"],
        why: "volume records know containers only through the users the engine passes in",
    },
    Contract {
        from: "build",
        never: &["container", "image", "network", "runtime", "engine", "api"],
        why: "the builder's domain parses, expands and plans steps; the engine runs them on containers and images",
    },
    Contract {
        from: "runtime",
        never: &["container", "image", "network", "engine", "api"],
        why: "the runtime runs processes under shims and knows only container ids",
    },
];

fn under(m: &ModPath, prefix: &str) -> bool {
    let parts: Vec<&str> = prefix.split("::").collect();
    m.len() >= parts.len() && m.iter().zip(&parts).all(|(a, b)| a == b)
}

/// Every edge that breaks a contract: `from -> to (why)`.
pub fn violations(g: &ModuleGraph, contracts: &[Contract]) -> Vec<String> {
    let mut out = Vec::new();
    for (from, targets) in &g.edges {
        for c in contracts.iter().filter(|c| under(from, c.from)) {
            for to in targets.iter().filter(|t| c.never.iter().any(|n| under(t, n))) {
                out.push(format!("{} -> {} ({})", display(from), display(to), c.why));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn graph(files: &[(&str, &str)]) -> ModuleGraph {
        let sources: BTreeMap<ModPath, (String, String)> = files
            .iter()
            .map(|(path, text)| {
                let rel = std::path::Path::new(path);
                (crate::module_graph::module_path_of(rel), (path.to_string(), text.to_string()))
            })
            .collect();
        ModuleGraph::from_sources(&sources)
    }

    #[test]
    fn a_broken_contract_is_named_with_its_reason() {
        let g = graph(&[
            ("lib.rs", "mod api;\nmod engine;\nmod network;\nmod container;\n"),
            ("api/mod.rs", "mod containers;\n"),
            ("api/containers.rs", "use crate::engine::Engine;\nfn f() { crate::network::Networks::open(); }\n"),
            ("engine/mod.rs", "use crate::network::Networks;\npub struct Engine;\n"),
            ("network/mod.rs", "use crate::container::Container;\npub struct Networks;\n"),
            ("container/mod.rs", "pub struct Container;\n"),
        ]);
        let found = violations(&g, AGENT);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found.iter().any(|v| v.starts_with("api/containers -> network") && v.contains("through `engine`")));
        assert!(found.iter().any(|v| v.starts_with("network -> container") && v.contains("liveness")));
    }

    #[test]
    fn a_layered_crate_passes() {
        let g = graph(&[
            ("lib.rs", "mod api;\nmod engine;\nmod network;\nmod container;\n"),
            ("api/mod.rs", "use crate::engine::Engine;\n"),
            ("engine/mod.rs", "use crate::network::Networks;\nuse crate::container::Container;\npub struct Engine;\n"),
            ("network/mod.rs", "pub struct Networks;\n"),
            ("container/mod.rs", "pub struct Container;\n"),
        ]);
        assert!(violations(&g, AGENT).is_empty());
    }

    #[test]
    fn the_agent_keeps_its_module_contracts() {
        let root = crate::paths::workspace_root();
        let g = ModuleGraph::read(&root.join("guest-agent/src")).expect("read the agent");
        let found = violations(&g, AGENT);
        assert!(found.is_empty(), "module contracts broken:\n{}", found.join("\n"));
    }
}
