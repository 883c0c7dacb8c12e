//! Path patterns as Docker reads them: Go's `filepath.Match` for one name
//! (`*`, `?`, `[a-z]`, `[^…]`, `\` escapes), and `.dockerignore` files
//! (moby's `patternmatcher`: one pattern a line, `#` comments, `**` for any
//! number of directories, `!` exceptions, the last matching line wins, and
//! a pattern that matches a directory matches everything under it).
//!
//! Owns those rules, for the CLI (what a build context leaves out) and the
//! builder (COPY's globs). It must never touch the file system.

/// Go's `path.Match`: `*` is any run of characters but `/`, `?` one such
/// character, `[a-z]`/`[^…]` a class, `\` escapes. One pass of the pattern
/// over the name (pattern × name steps), so a pattern of many `*` (a user's
/// filter, a hostile Dockerfile's COPY or `.dockerignore`) cannot make the
/// work grow as the ways to split the name do. Also the reference filter of
/// `docker images` (`busy*`, `shop/*`).
pub fn matches(pattern: &str, name: &str) -> bool {
    let n: Vec<char> = name.chars().collect();
    // row[j]: the pattern so far matches the first j characters of the name.
    let mut row = vec![false; n.len() + 1];
    row[0] = true;
    // An unclosed `[` is Go's ErrBadPattern: nothing matches.
    let Some(tokens) = tokens(pattern) else { return false };
    for token in tokens {
        let mut next = vec![false; n.len() + 1];
        next[0] = token == Token::Star && row[0];
        for j in 1..=n.len() {
            let c = n[j - 1];
            next[j] = match &token {
                Token::Star => row[j] || (next[j - 1] && c != '/'),
                Token::One => row[j - 1] && c != '/',
                Token::Class { negated, items } => row[j - 1] && c != '/' && class_has(items, c) != *negated,
                Token::Lit(l) => row[j - 1] && c == *l,
            };
        }
        row = next;
    }
    row[n.len()]
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Star,
    One,
    /// `[…]`: single characters and `a-z` ranges as (low, high).
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
    Lit(char),
}

/// The pattern's tokens; None for an unclosed `[`.
fn tokens(pattern: &str) -> Option<Vec<Token>> {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => out.push(Token::Star),
            '?' => out.push(Token::One),
            '\\' if i + 1 < p.len() => {
                i += 1;
                out.push(Token::Lit(p[i]));
            }
            '[' => {
                let end = i + 1 + p[i + 1..].iter().position(|c| *c == ']')?;
                let mut class = &p[i + 1..end];
                let negated = matches!(class.first(), Some('^' | '!'));
                if negated {
                    class = &class[1..];
                }
                let mut items = Vec::new();
                let mut k = 0;
                while k < class.len() {
                    if k + 2 < class.len() && class[k + 1] == '-' {
                        items.push((class[k], class[k + 2]));
                        k += 3;
                    } else {
                        items.push((class[k], class[k]));
                        k += 1;
                    }
                }
                out.push(Token::Class { negated, items });
                i = end;
            }
            c => out.push(Token::Lit(c)),
        }
        i += 1;
    }
    Some(out)
}

fn class_has(items: &[(char, char)], c: char) -> bool {
    items.iter().any(|(lo, hi)| *lo <= c && c <= *hi)
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
        assert!(!matches("[a-c", "b") && !matches("[a-c", "[a-c"), "an unclosed class is a bad pattern");
        assert!(matches("busy*", "busybox:latest") && matches("shop/*", "shop/web") && !matches("*", "shop/web"));
        assert!(!matches("b?sybox", "b/sybox") && matches("", "") && matches("*", ""));
    }

    /// Many `*` against a long name that almost matches: at once (a
    /// matcher that tries every split per `*` grows combinatorially).
    #[test]
    fn many_stars_cost_pattern_times_name() {
        let started = std::time::Instant::now();
        let name = "a".repeat(200);
        assert!(!matches(&format!("{}b", "*a".repeat(30)), &name));
        assert!(matches(&"*a".repeat(30), &name));
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
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
