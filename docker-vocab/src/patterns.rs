//! Path patterns as Docker reads them: Go's `filepath.Match` for one name
//! (`*`, `?`, `[a-z]`, `[^…]`, `\` escapes), and `.dockerignore` files
//! (moby's `patternmatcher`: one pattern a line, `#` comments, `**` for any
//! number of directories, `!` exceptions, the last matching line wins, and
//! a pattern that matches a directory matches everything under it).
//!
//! Owns those rules, for the CLI (what a build context leaves out) and the
//! builder (COPY's globs). It must never touch the file system.

/// Go's `filepath.Match` for one name (no `/` in either).
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob(&p, &n)
}

fn glob(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| glob(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && glob(&p[1..], &n[1..]),
        Some('[') => {
            let Some(c) = n.first() else { return false };
            let Some(end) = p.iter().skip(1).position(|c| *c == ']').map(|i| i + 1) else { return false };
            let class = &p[1..end];
            let (neg, class) = match class.first() {
                Some('^' | '!') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= *c && *c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == *c;
                    i += 1;
                }
            }
            hit != neg && glob(&p[end + 1..], &n[1..])
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && glob(&p[2..], &n[1..]),
        Some(c) => n.first() == Some(c) && glob(&p[1..], &n[1..]),
    }
}

/// Whether a pattern is a glob at all.
pub fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// One `.dockerignore` line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    parts: Vec<String>,
    exception: bool,
}

/// A parsed `.dockerignore`.
#[derive(Clone, Debug, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

/// `path.Clean` of a relative pattern or path, as components.
fn components(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

impl DockerIgnore {
    pub fn parse(text: &str) -> DockerIgnore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, p) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let parts = components(p);
            if !parts.is_empty() {
                patterns.push(Pattern { parts, exception });
            }
        }
        DockerIgnore { patterns }
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out.
    pub fn excludes(&self, path: &str) -> bool {
        let comps = components(path);
        let mut excluded = false;
        for p in &self.patterns {
            // The pattern matches the path or one of its parent directories.
            let hit = (1..=comps.len()).any(|n| parts_match(&p.parts, &comps[..n]));
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether an exception could bring back something under `dir` (so
    /// an excluded directory must still be walked).
    pub fn may_include_under(&self, dir: &str) -> bool {
        let comps = components(dir);
        self.patterns.iter().any(|p| {
            p.exception
                && (p.parts.iter().any(|c| c == "**")
                    || p.parts.len() > comps.len() && parts_match(&p.parts[..comps.len()], &comps))
        })
    }
}

fn parts_match(pat: &[String], path: &[String]) -> bool {
    match pat.first() {
        None => path.is_empty(),
        Some(p) if p == "**" => (0..=path.len()).any(|i| parts_match(&pat[1..], &path[i..])),
        Some(p) => !path.is_empty() && matches(p, &path[0]) && parts_match(&pat[1..], &path[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_filepath_match() {
        assert!(matches("*.txt", "a.txt"));
        assert!(!matches("*.txt", "a.txd"));
        assert!(matches("a?c", "abc"));
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[^a-c]x", "bx"));
        assert!(matches("\\*", "*"));
        assert!(has_glob("a*") && !has_glob("plain"));
    }

    #[test]
    fn dockerignore_rules() {
        let ig = DockerIgnore::parse("# comment\n*.log\n!keep.log\nsecret/\n**/*.tmp\n/build\ndocs/**/draft*\n");
        assert!(ig.excludes("a.log"));
        assert!(!ig.excludes("keep.log"), "the exception comes later and wins");
        assert!(!ig.excludes("sub/a.log"), "*.log is for the top level only");
        assert!(ig.excludes("secret/key"), "a directory's pattern covers what is in it");
        assert!(ig.excludes("x/y/z.tmp") && ig.excludes("z.tmp"), "** is any number of directories");
        assert!(ig.excludes("build/out"), "a leading / is the context's root");
        assert!(ig.excludes("docs/a/b/draft1.md"));
        assert!(!ig.excludes("src/main.rs"));
        let ig = DockerIgnore::parse("secret\n!secret/keep\n");
        assert!(ig.excludes("secret/other"));
        assert!(!ig.excludes("secret/keep"));
        assert!(ig.may_include_under("secret"));
        assert!(!DockerIgnore::parse("secret\n").may_include_under("secret"));
    }
}
