//! Docker's variable expansion in Dockerfile instructions (moby's
//! `shell.Lex`): `$V`, `${V}`, `${V:-default}`, `${V-default}`,
//! `${V:+alt}`, `${V+alt}`, `${V:?msg}`, single and double quotes, and the
//! escape character (`\` or the `# escape=` directive's).
//!
//! Owns the lexing of one word ([`Lexer::word`], quotes removed) and of a
//! word list ([`Lexer::words`], split on unquoted whitespace, as `COPY`,
//! `EXPOSE` and `VOLUME` read their arguments). It must never run a
//! command or read the process environment: the variables are the build's
//! (`ENV` and the declared `ARG`s), passed in.

use std::collections::HashMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LexError {
    #[error("failed to process \"{word}\": unexpected end of statement while looking for matching {what}")]
    Unterminated { word: String, what: &'static str },
    #[error("failed to process \"{word}\": missing ':' in substitution")]
    BadSubstitution { word: String },
    #[error("failed to process \"{word}\": {name}: {message}")]
    Required { word: String, name: String, message: String },
}

/// The expander: the escape character and the variables in scope.
pub struct Lexer<'a> {
    pub escape: char,
    pub vars: &'a HashMap<String, String>,
}

struct Scan<'w> {
    chars: Vec<char>,
    pos: usize,
    word: &'w str,
}

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }
}

impl Lexer<'_> {
    /// One word, expanded, quotes removed (ENV and LABEL values, USER,
    /// WORKDIR, FROM, STOPSIGNAL).
    pub fn word(&self, word: &str) -> Result<String, LexError> {
        let mut s = Scan { chars: word.chars().collect(), pos: 0, word };
        let (out, _) = self.process(&mut s, None, false)?;
        Ok(out.concat())
    }

    /// Words split on unquoted whitespace, each expanded (an unquoted
    /// variable's value splits too, as moby's `ProcessWords` does).
    pub fn words(&self, word: &str) -> Result<Vec<String>, LexError> {
        let mut s = Scan { chars: word.chars().collect(), pos: 0, word };
        let (words, _) = self.process(&mut s, None, true)?;
        Ok(words.into_iter().filter(|w| !w.is_empty()).collect())
    }

    /// Scans until `stop` (unquoted) or the end. With `split`, returns one
    /// string per word; else one string.
    fn process(&self, s: &mut Scan, stop: Option<char>, split: bool) -> Result<(Vec<String>, bool), LexError> {
        let mut words = Vec::new();
        let mut cur = String::new();
        // Whether `cur` holds a word (an empty quoted string is one).
        let mut have = false;
        while let Some(c) = s.peek() {
            if Some(c) == stop {
                s.next();
                words.push(cur);
                return Ok((words, true));
            }
            if split && c.is_whitespace() {
                s.next();
                if have || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                have = false;
                continue;
            }
            match c {
                '\'' => {
                    s.next();
                    cur.push_str(&self.single_quoted(s)?);
                    have = true;
                }
                '"' => {
                    s.next();
                    cur.push_str(&self.double_quoted(s)?);
                    have = true;
                }
                '$' => {
                    let v = self.dollar(s)?;
                    if split {
                        // Unquoted: the value's own whitespace splits words.
                        let mut parts = v.split(char::is_whitespace).peekable();
                        if let Some(first) = parts.next() {
                            cur.push_str(first);
                        }
                        for p in parts {
                            if !cur.is_empty() {
                                words.push(std::mem::take(&mut cur));
                            }
                            cur.push_str(p);
                        }
                    } else {
                        cur.push_str(&v);
                    }
                }
                c if c == self.escape => {
                    s.next();
                    match s.next() {
                        Some(n) => cur.push(n),
                        None => cur.push(c),
                    }
                    have = true;
                }
                c => {
                    s.next();
                    cur.push(c);
                }
            }
        }
        if stop.is_some() {
            return Err(LexError::Unterminated { word: s.word.to_string(), what: "}" });
        }
        if have || !cur.is_empty() || !split {
            words.push(cur);
        }
        Ok((words, false))
    }

    fn single_quoted(&self, s: &mut Scan) -> Result<String, LexError> {
        let mut out = String::new();
        loop {
            match s.next() {
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
                None => return Err(LexError::Unterminated { word: s.word.to_string(), what: "single quote" }),
            }
        }
    }

    fn double_quoted(&self, s: &mut Scan) -> Result<String, LexError> {
        let mut out = String::new();
        loop {
            match s.peek() {
                None => return Err(LexError::Unterminated { word: s.word.to_string(), what: "double quote" }),
                Some('"') => {
                    s.next();
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar(s)?),
                Some(c) if c == self.escape => {
                    s.next();
                    match s.peek() {
                        None => return Err(LexError::Unterminated { word: s.word.to_string(), what: "double quote" }),
                        Some(n) if n == '"' || n == '$' || n == self.escape => {
                            s.next();
                            out.push(n);
                        }
                        Some(_) => out.push(c),
                    }
                }
                Some(c) => {
                    s.next();
                    out.push(c);
                }
            }
        }
    }

    /// At a `$`: the variable's value, or the `$` itself when no name follows.
    fn dollar(&self, s: &mut Scan) -> Result<String, LexError> {
        s.next(); // the `$`
        match s.peek() {
            Some('{') => {
                s.next();
                let name = name(s);
                if name.is_empty() {
                    return Err(LexError::BadSubstitution { word: s.word.to_string() });
                }
                let value = self.vars.get(&name);
                match s.next() {
                    Some('}') => Ok(value.cloned().unwrap_or_default()),
                    Some(':') => {
                        let op = s.next();
                        let (alt, _) = self.process(s, Some('}'), false)?;
                        let alt = alt.concat();
                        let set = value.filter(|v| !v.is_empty());
                        self.modifier(s, &name, op, set, alt)
                    }
                    Some(op @ ('-' | '+' | '?')) => {
                        let (alt, _) = self.process(s, Some('}'), false)?;
                        self.modifier(s, &name, Some(op), value, alt.concat())
                    }
                    Some(_) => Err(LexError::BadSubstitution { word: s.word.to_string() }),
                    None => Err(LexError::Unterminated { word: s.word.to_string(), what: "}" }),
                }
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let name = name(s);
                Ok(self.vars.get(&name).cloned().unwrap_or_default())
            }
            _ => Ok("$".to_string()),
        }
    }

    fn modifier(
        &self,
        s: &Scan,
        name: &str,
        op: Option<char>,
        value: Option<&String>,
        alt: String,
    ) -> Result<String, LexError> {
        match op {
            Some('-') => Ok(value.cloned().unwrap_or(alt)),
            Some('+') => Ok(if value.is_some() { alt } else { String::new() }),
            Some('?') => match value {
                Some(v) => Ok(v.clone()),
                None => Err(LexError::Required {
                    word: s.word.to_string(),
                    name: name.to_string(),
                    message: if alt.is_empty() { "is not allowed to be unset".into() } else { alt },
                }),
            },
            _ => Err(LexError::BadSubstitution { word: s.word.to_string() }),
        }
    }
}

fn name(s: &mut Scan) -> String {
    let mut n = String::new();
    while let Some(c) = s.peek().filter(|c| c.is_ascii_alphanumeric() || *c == '_') {
        s.next();
        n.push(c);
    }
    n
}

/// moby's `parseWords` for `ENV`/`LABEL`/`ARG`: words split on unquoted
/// whitespace with the quotes and escapes kept (each is lexed later).
pub fn raw_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                cur.push(c);
            }
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            _ if c == escape && quote != Some('\'') => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<String, String> {
        [("A", "apple"), ("E", ""), ("SP", "x y"), ("P", "/usr/bin")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn word(w: &str) -> String {
        Lexer { escape: '\\', vars: &vars() }.word(w).unwrap()
    }

    #[test]
    fn expands_as_dockers_shell_lexer() {
        assert_eq!(word("$A"), "apple");
        assert_eq!(word("${A}s"), "apples");
        assert_eq!(word("$A-$NONE."), "apple-.");
        assert_eq!(word("${NONE:-dflt}"), "dflt");
        assert_eq!(word("${E:-dflt}"), "dflt", ":- takes the default for an empty value");
        assert_eq!(word("${E-dflt}"), "", "- only for an unset one");
        assert_eq!(word("${A:+set}"), "set");
        assert_eq!(word("${E:+set}"), "");
        assert_eq!(word("${E+set}"), "set");
        assert_eq!(word("${NONE:-$A}"), "apple", "the default is expanded");
        assert_eq!(word("'$A'"), "$A", "single quotes keep it literal");
        assert_eq!(word("\"$A b\""), "apple b");
        assert_eq!(word("\\$A"), "$A", "an escaped dollar");
        assert_eq!(word("\"\\$A \\\" \\x\""), "$A \" \\x");
        assert_eq!(word("a\\ b"), "a b");
        assert_eq!(word("$"), "$");
        assert_eq!(word("100%"), "100%");
        assert_eq!(word("${P}/x"), "/usr/bin/x");
    }

    #[test]
    fn the_escape_directive_changes_the_escape() {
        let v = vars();
        let l = Lexer { escape: '`', vars: &v };
        assert_eq!(l.word("c:\\dir `$A").unwrap(), "c:\\dir $A");
    }

    #[test]
    fn errors_name_the_word() {
        let v = vars();
        let l = Lexer { escape: '\\', vars: &v };
        assert!(matches!(l.word("${A"), Err(LexError::Unterminated { .. })));
        assert!(matches!(l.word("'abc"), Err(LexError::Unterminated { .. })));
        assert!(matches!(l.word("${A:x}"), Err(LexError::BadSubstitution { .. })));
        let e = l.word("${NONE:?needed}").unwrap_err();
        assert_eq!(e.to_string(), "failed to process \"${NONE:?needed}\": NONE: needed");
    }

    #[test]
    fn words_split_on_unquoted_whitespace() {
        let v = vars();
        let l = Lexer { escape: '\\', vars: &v };
        assert_eq!(l.words("a  b \"c d\" $SP").unwrap(), ["a", "b", "c d", "x", "y"]);
        assert_eq!(l.words("\"$SP\"").unwrap(), ["x y"]);
        assert_eq!(raw_words("A=1 B=\"x y\" C=a\\ b", '\\'), ["A=1", "B=\"x y\"", "C=a\\ b"]);
    }
}
