//! A Dockerfile read into the builder's model: the meta `ARG`s before the
//! first `FROM`, then the stages, each a `FROM` and its steps, every step
//! with the text the classic builder prints as `Step N/M : <text>`.
//!
//! Owns the mapping from parse-dockerfile's syntax tree (which covers the
//! grammar: instructions, flags, exec and shell forms, heredocs, the
//! `escape` directive) to [`Instr`], with arguments still unexpanded
//! (expansion needs the build's variables at that step: `lex.rs`). It must
//! never expand variables, touch files or know about images.

use parse_dockerfile::{Command, HealthcheckArguments, Instruction, JsonOrStringArray, Source};

use super::error::BuildError;

/// A command in exec form (JSON array) or shell form (one string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    Exec(Vec<String>),
    Shell(String),
}

/// A COPY/ADD source: a path (or URL) of the context or stage, or a heredoc body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Src {
    Path(String),
    Heredoc { body: String, expand: bool },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Instr {
    From { image: String, name: Option<String>, platform: Option<String> },
    Run { cmd: Cmd, heredoc: Option<(String, bool)> },
    Copy { add: bool, flags: Vec<(String, Option<String>)>, srcs: Vec<Src>, dest: String },
    Env(String),
    Label(String),
    Arg(String),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Entrypoint(Cmd),
    Cmd(Cmd),
    Healthcheck { flags: Vec<(String, Option<String>)>, test: Option<Cmd> },
    Stopsignal(String),
    Onbuild(String),
    Maintainer(String),
    Shell(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct Step {
    /// The instruction as written, continuations joined (`Step N/M : …`).
    pub original: String,
    pub instr: Instr,
}

#[derive(Clone, Debug)]
pub struct Stage {
    pub from: Step,
    pub steps: Vec<Step>,
}

impl Stage {
    pub fn name(&self) -> Option<&str> {
        match &self.from.instr {
            Instr::From { name, .. } => name.as_deref(),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Dockerfile {
    pub escape: char,
    /// The `# syntax=` directive's value: BuildKit's frontend, which the
    /// classic builder does not run (the build says so and goes on).
    pub syntax: Option<String>,
    pub meta_args: Vec<Step>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    pub fn parse(text: &str) -> Result<Dockerfile, BuildError> {
        let d = parse_dockerfile::parse(text).map_err(|e| BuildError::Parse(e.to_string()))?;
        let escape = d.parser_directives.escape.as_ref().map_or('\\', |e| e.value.value);
        let syntax = d.parser_directives.syntax.as_ref().map(|s| s.value.value.to_string());
        let starts: Vec<usize> = d.instructions.iter().map(start).collect();
        let step = |i: usize| -> Result<Step, BuildError> {
            let end = starts.get(i + 1).copied().unwrap_or(text.len());
            let ins = &d.instructions[i];
            Ok(Step { original: original(&text[starts[i]..end], escape, ins), instr: convert(ins, text, escape)? })
        };
        let mut meta_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for (i, ins) in d.instructions.iter().enumerate() {
            match ins {
                Instruction::From(_) => stages.push(Stage { from: step(i)?, steps: Vec::new() }),
                _ => match stages.last_mut() {
                    Some(s) => s.steps.push(step(i)?),
                    None => meta_args.push(step(i)?),
                },
            }
        }
        Ok(Dockerfile { escape, syntax, meta_args, stages })
    }

    /// The classic builder's step count: meta ARGs, FROMs and steps of the
    /// stages built (`built[i]`: stage `i` is).
    pub fn total_steps(&self, built: &[bool]) -> usize {
        let stages = self.stages.iter().zip(built).filter(|(_, b)| **b);
        self.meta_args.len() + stages.map(|(s, _)| 1 + s.steps.len()).sum::<usize>()
    }
}

/// Parses one instruction on its own (an ONBUILD trigger).
pub fn parse_trigger(text: &str) -> Result<Step, BuildError> {
    let d = Dockerfile::parse(&format!("FROM scratch\n{text}\n"))?;
    d.stages.into_iter().next().and_then(|s| s.steps.into_iter().next()).ok_or_else(|| BuildError::Parse(text.into()))
}

fn start(ins: &Instruction) -> usize {
    match ins {
        Instruction::Add(i) => i.add.span.start,
        Instruction::Arg(i) => i.arg.span.start,
        Instruction::Cmd(i) => i.cmd.span.start,
        Instruction::Copy(i) => i.copy.span.start,
        Instruction::Entrypoint(i) => i.entrypoint.span.start,
        Instruction::Env(i) => i.env.span.start,
        Instruction::Expose(i) => i.expose.span.start,
        Instruction::From(i) => i.from.span.start,
        Instruction::Healthcheck(i) => i.healthcheck.span.start,
        Instruction::Label(i) => i.label.span.start,
        Instruction::Maintainer(i) => i.maintainer.span.start,
        Instruction::Onbuild(i) => i.onbuild.span.start,
        Instruction::Run(i) => i.run.span.start,
        Instruction::Shell(i) => i.shell.span.start,
        Instruction::Stopsignal(i) => i.stopsignal.span.start,
        Instruction::User(i) => i.user.span.start,
        Instruction::Volume(i) => i.volume.span.start,
        Instruction::Workdir(i) => i.workdir.span.start,
        _ => 0,
    }
}

/// The instruction's text up to the next one: comment lines and heredoc
/// bodies left out, continuation lines joined.
fn original(chunk: &str, escape: char, ins: &Instruction) -> String {
    let heredoc = matches!(ins, Instruction::Run(r) if !r.here_docs.is_empty())
        || matches!(ins, Instruction::Copy(c) if c.src.iter().any(|s| matches!(s, Source::HereDoc(_))))
        || matches!(ins, Instruction::Add(c) if c.src.iter().any(|s| matches!(s, Source::HereDoc(_))));
    let mut out = String::new();
    for line in chunk.lines() {
        let t = line.trim_start();
        if t.starts_with('#') && !out.is_empty() {
            continue;
        }
        let stripped = line.trim_end();
        match stripped.strip_suffix(escape) {
            Some(body) if !heredoc => out.push_str(body),
            _ => {
                out.push_str(stripped);
                break;
            }
        }
    }
    out.trim().to_string()
}

fn text(s: &parse_dockerfile::UnescapedString) -> String {
    s.value.to_string()
}

fn flags(f: &[parse_dockerfile::Flag]) -> Vec<(String, Option<String>)> {
    f.iter().map(|f| (text(&f.name), f.value.as_ref().map(text))).collect()
}

/// A shell-form command with its continuations removed, as the shell gets it.
fn shell(s: &str, escape: char) -> String {
    let mut out = String::new();
    let mut lines = s.split('\n').peekable();
    while let Some(line) = lines.next() {
        let l = line.strip_suffix('\r').unwrap_or(line);
        match l.strip_suffix(escape) {
            Some(body) if lines.peek().is_some() => out.push_str(body),
            _ => {
                out.push_str(l);
                if lines.peek().is_some() {
                    out.push('\n');
                }
            }
        }
    }
    // Comment lines inside a continued instruction are dropped by Docker.
    out.trim().to_string()
}

fn cmd(c: &Command, escape: char) -> Cmd {
    match c {
        Command::Exec(v) => Cmd::Exec(v.value.iter().map(text).collect()),
        Command::Shell(s) => Cmd::Shell(shell(s.value, escape)),
        _ => Cmd::Exec(Vec::new()),
    }
}

fn convert(ins: &Instruction, src: &str, escape: char) -> Result<Instr, BuildError> {
    Ok(match ins {
        Instruction::From(f) => {
            let platform =
                f.options.iter().find(|o| o.name.value == "platform").and_then(|o| o.value.as_ref()).map(text);
            if let Some(bad) = f.options.iter().find(|o| o.name.value != "platform") {
                return Err(BuildError::Parse(format!("unknown flag: {}", bad.name.value)));
            }
            Instr::From { image: text(&f.image), name: f.as_.as_ref().map(|(_, n)| text(n)), platform }
        }
        Instruction::Run(r) => {
            if let Some(bad) = r.options.first() {
                return Err(BuildError::Parse(format!(
                    "the --{} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled",
                    bad.name.value
                )));
            }
            let heredoc = r.here_docs.first().map(|h| (h.value.to_string(), h.expand));
            Instr::Run { cmd: cmd(&r.arguments, escape), heredoc }
        }
        Instruction::Copy(c) => copy(false, &c.options, &c.src, &c.dest)?,
        Instruction::Add(c) => copy(true, &c.options, &c.src, &c.dest)?,
        Instruction::Env(e) => Instr::Env(text(&e.arguments)),
        Instruction::Label(l) => Instr::Label(text(&l.arguments)),
        Instruction::Arg(a) => Instr::Arg(text(&a.arguments)),
        Instruction::Workdir(w) => Instr::Workdir(text(&w.arguments)),
        Instruction::User(u) => Instr::User(text(&u.arguments)),
        Instruction::Expose(e) => Instr::Expose(e.arguments.iter().map(text).collect()),
        Instruction::Volume(v) => Instr::Volume(match &v.arguments {
            JsonOrStringArray::Json(j) => j.value.iter().map(text).collect(),
            JsonOrStringArray::String(s) => s.iter().map(text).collect(),
        }),
        Instruction::Entrypoint(e) => Instr::Entrypoint(cmd(&e.arguments, escape)),
        Instruction::Cmd(c) => Instr::Cmd(cmd(&c.arguments, escape)),
        Instruction::Healthcheck(h) => Instr::Healthcheck {
            flags: flags(&h.options),
            test: match &h.arguments {
                HealthcheckArguments::Cmd { arguments, .. } => Some(cmd(arguments, escape)),
                _ => None,
            },
        },
        Instruction::Stopsignal(s) => Instr::Stopsignal(text(&s.arguments)),
        Instruction::Onbuild(o) => {
            let at = start(&o.instruction);
            let inner = src[at..].lines().next().unwrap_or_default();
            let inner = &src[at..at + inner.len()];
            match *o.instruction {
                Instruction::From(_) | Instruction::Onbuild(_) | Instruction::Maintainer(_) => {
                    return Err(BuildError::Parse(format!("{} isn't allowed as an ONBUILD trigger", keyword(inner))));
                }
                _ => Instr::Onbuild(shell(inner, escape)),
            }
        }
        Instruction::Maintainer(m) => Instr::Maintainer(text(&m.name)),
        Instruction::Shell(s) => Instr::Shell(s.arguments.iter().map(text).collect()),
        _ => return Err(BuildError::Parse("unknown instruction".into())),
    })
}

fn keyword(s: &str) -> String {
    s.split_whitespace().next().unwrap_or_default().to_uppercase()
}

fn copy(
    add: bool,
    options: &[parse_dockerfile::Flag],
    srcs: &[Source],
    dest: &parse_dockerfile::UnescapedString,
) -> Result<Instr, BuildError> {
    let flags = flags(options);
    let allowed: &[&str] =
        if add { &["chown", "chmod", "checksum", "keep-git-dir"] } else { &["chown", "chmod", "from"] };
    if let Some((bad, _)) = flags.iter().find(|(n, _)| !allowed.contains(&n.as_str())) {
        return Err(BuildError::Parse(format!("unknown flag: {bad}")));
    }
    let srcs = srcs
        .iter()
        .map(|s| match s {
            Source::Path(p) => Src::Path(text(p)),
            Source::HereDoc(h) => Src::Heredoc { body: h.value.to_string(), expand: h.expand },
            _ => Src::Path(String::new()),
        })
        .collect();
    Ok(Instr::Copy { add, flags, srcs, dest: text(dest) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_steps_and_their_text() {
        let d = Dockerfile::parse(
            "ARG V=1\nFROM busybox:${V} AS base\n# a comment\nRUN echo a \\\n    && echo b\nENV A=1 B=\"x y\"\n\
             COPY --chown=1:1 a* /dst/\nFROM base\nCMD [\"sh\", \"-c\", \"x\"]\n",
        )
        .unwrap();
        assert_eq!(d.meta_args.len(), 1);
        assert_eq!(d.stages.len(), 2);
        assert_eq!(d.stages[0].name(), Some("base"));
        assert_eq!(d.stages[0].from.original, "FROM busybox:${V} AS base");
        let run = &d.stages[0].steps[0];
        assert_eq!(run.original, "RUN echo a     && echo b");
        assert_eq!(run.instr, Instr::Run { cmd: Cmd::Shell("echo a     && echo b".into()), heredoc: None });
        assert_eq!(d.stages[0].steps[1].instr, Instr::Env("A=1 B=\"x y\"".into()));
        match &d.stages[0].steps[2].instr {
            Instr::Copy { add: false, flags, srcs, dest } => {
                assert_eq!(flags, &[("chown".to_string(), Some("1:1".to_string()))]);
                assert_eq!(srcs, &[Src::Path("a*".into())]);
                assert_eq!(dest, "/dst/");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.stages[1].steps[0].instr, Instr::Cmd(Cmd::Exec(vec!["sh".into(), "-c".into(), "x".into()])));
        assert_eq!(d.total_steps(&[true, true]), 1 + 4 + 2);
        assert_eq!(d.total_steps(&[false, true]), 1 + 2);
    }

    #[test]
    fn heredocs_and_triggers() {
        let d = Dockerfile::parse("FROM busybox\nRUN <<EOF\necho one\necho two\nEOF\nONBUILD RUN touch /x\n").unwrap();
        let s = &d.stages[0].steps;
        match &s[0].instr {
            Instr::Run { cmd: Cmd::Shell(text), heredoc: Some((body, true)) } => {
                assert_eq!(body, "echo one\necho two\n");
                assert_eq!(text, "", "the heredoc marker is not part of the command");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s[0].original, "RUN <<EOF");
        assert_eq!(s[1].instr, Instr::Onbuild("RUN touch /x".into()));
        assert!(matches!(parse_trigger("RUN touch /x").unwrap().instr, Instr::Run { .. }));
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(Dockerfile::parse("FROM busybox\nFOO bar\n").is_err(), "unknown instruction");
        assert!(Dockerfile::parse("RUN x\n").is_err(), "no FROM");
        assert!(Dockerfile::parse("FROM busybox\nCOPY --bogus=1 a b\n").is_err());
        assert!(Dockerfile::parse("FROM busybox\nRUN --mount=type=cache,target=/x true\n").is_err());
    }

    #[test]
    fn a_syntax_directive_is_kept_for_its_note() {
        let d = Dockerfile::parse("# syntax=docker/dockerfile:1\nFROM busybox\n").unwrap();
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.stages.len(), 1);
        assert!(Dockerfile::parse("FROM busybox\n").unwrap().syntax.is_none());
    }

    #[test]
    fn the_escape_directive() {
        let d = Dockerfile::parse("# escape=`\nFROM busybox\nRUN echo a `\n  b\n").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.stages[0].steps[0].instr, Instr::Run { cmd: Cmd::Shell("echo a   b".into()), heredoc: None });
    }
}
