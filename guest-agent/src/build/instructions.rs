//! What each metadata instruction does to the image config, and the
//! history line it leaves (moby's classic dispatchers: `ENV`, `LABEL`,
//! `ARG`, `WORKDIR`, `USER`, `EXPOSE`, `VOLUME`, `ENTRYPOINT`, `CMD`,
//! `HEALTHCHECK`, `STOPSIGNAL`, `ONBUILD`, `MAINTAINER`, `SHELL`), plus the
//! run config of a `RUN` step and the build's variables ([`State`]).
//!
//! Owns the rules and Docker's wording of `#(nop)` comments, so `docker
//! history` reads as Docker's. It must never run anything or touch files:
//! the engine runs RUN and COPY steps.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::error::BuildError;
use super::lex::{Lexer, raw_words};
use super::parser::{Cmd, Instr};

/// The predefined args: usable without an `ARG` line, never in history.
const PREDEFINED: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// One stage's state as the builder walks its steps.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// The image config's `config` section so far.
    pub config: Map<String, Value>,
    /// The image the next step builds on; `None` for `FROM scratch` before a layer.
    pub image: Option<String>,
    /// Declared ARGs of this stage, with their values (build args win).
    pub args: Vec<(String, Option<String>)>,
    /// Whether this stage set CMD (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    pub author: Option<String>,
}

impl State {
    pub fn env(&self) -> Vec<String> {
        strings(self.config.get("Env"))
    }

    /// The variables expansion sees: ENV, then declared ARGs ENV does not shadow.
    pub fn vars(&self) -> HashMap<String, String> {
        let mut vars: HashMap<String, String> = HashMap::new();
        for (k, v) in &self.args {
            if let Some(v) = v {
                vars.insert(k.clone(), v.clone());
            }
        }
        for e in self.env() {
            let (k, v) = e.split_once('=').unwrap_or((&e, ""));
            vars.insert(k.to_string(), v.to_string());
        }
        vars
    }

    /// `SHELL`, or `/bin/sh -c`.
    pub fn shell(&self) -> Vec<String> {
        let s = strings(self.config.get("Shell"));
        if s.is_empty() { vec!["/bin/sh".into(), "-c".into()] } else { s }
    }

    /// Build args in scope that ENV does not set, `K=V`, sorted (what a
    /// RUN gets in its environment and its `|N …` history prefix).
    pub fn run_args(&self) -> Vec<String> {
        let env: Vec<String> = self.env().iter().map(|e| e.split('=').next().unwrap_or_default().to_string()).collect();
        let mut out: Vec<String> = self
            .args
            .iter()
            .filter(|(k, v)| v.is_some() && !env.contains(k))
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or_default()))
            .collect();
        out.sort();
        out
    }

    /// The command line of a command: exec form as is, shell form through SHELL.
    pub fn command(&self, c: &Cmd) -> Vec<String> {
        match c {
            Cmd::Exec(v) => v.clone(),
            Cmd::Shell(s) => {
                let mut v = self.shell();
                v.push(s.clone());
                v
            }
        }
    }

    /// The `Cmd` that stands for a metadata step in `container_config`
    /// (its history's `created_by`: `/bin/sh -c #(nop)  CMD ["sh"]`).
    pub fn nop(&self, comment: &str) -> Vec<String> {
        let mut v = self.shell();
        v.push("#(nop) ".into());
        v.push(comment.into());
        v
    }

    fn set_env(&mut self, key: &str, value: &str) {
        let mut env = self.env();
        let entry = format!("{key}={value}");
        match env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
        self.config.insert("Env".into(), json!(env));
    }

    /// Declares an ARG (`name` or `name=default`); `build_args` override the default.
    pub fn declare_arg(
        &mut self,
        text: &str,
        escape: char,
        build_args: &HashMap<String, Option<String>>,
        meta: &[(String, Option<String>)],
    ) -> Result<String, BuildError> {
        let mut comment = Vec::new();
        for w in raw_words(text, escape) {
            let vars = self.vars();
            let lex = Lexer { escape, vars: &vars };
            let (name, default) = match w.split_once('=') {
                Some((n, d)) => (n.to_string(), Some(lex.word(d)?)),
                None => (w.clone(), None),
            };
            if name.is_empty() {
                return Err(BuildError::Invalid(format!("ARG requires a name: {text}")));
            }
            let inherited = meta.iter().find(|(k, _)| *k == name).and_then(|(_, v)| v.clone());
            let value = match build_args.get(&name) {
                Some(Some(v)) => Some(v.clone()),
                _ => default.clone().or(inherited),
            };
            comment.push(match &default {
                Some(d) => format!("{name}={d}"),
                None => name.clone(),
            });
            self.args.retain(|(k, _)| *k != name);
            self.args.push((name, value));
        }
        Ok(format!("ARG {}", comment.join(" ")))
    }

    /// Applies a metadata instruction; the `#(nop)` comment of its history
    /// line. `None` for instructions that are not metadata (FROM, RUN, COPY).
    pub fn apply(&mut self, instr: &Instr, escape: char) -> Result<Option<String>, BuildError> {
        let vars = self.vars();
        let lex = Lexer { escape, vars: &vars };
        let comment = match instr {
            Instr::Env(text) => {
                let pairs = pairs(text, escape, &lex, "ENV")?;
                for (k, v) in &pairs {
                    self.set_env(k, v);
                }
                format!("ENV {}", pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "))
            }
            Instr::Label(text) => {
                let pairs = pairs(text, escape, &lex, "LABEL")?;
                let labels = object(&mut self.config, "Labels");
                for (k, v) in &pairs {
                    labels.insert(k.clone(), json!(v));
                }
                format!("LABEL {}", pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "))
            }
            Instr::Maintainer(m) => {
                self.author = Some(m.clone());
                format!("MAINTAINER {m}")
            }
            Instr::Workdir(w) => {
                let w = lex.word(w)?;
                let cur = self.config.get("WorkingDir").and_then(Value::as_str).unwrap_or("/").to_string();
                let path = clean(&if w.starts_with('/') { w } else { format!("{}/{w}", cur.trim_end_matches('/')) });
                self.config.insert("WorkingDir".into(), json!(path));
                format!("WORKDIR {path}")
            }
            Instr::User(u) => {
                let u = lex.word(u)?;
                self.config.insert("User".into(), json!(u));
                format!("USER {u}")
            }
            Instr::Expose(ports) => {
                let mut specs = Vec::new();
                for p in ports {
                    for p in lex.words(p)? {
                        specs.extend(port_specs(&p)?);
                    }
                }
                let exposed = object(&mut self.config, "ExposedPorts");
                for s in &specs {
                    exposed.insert(s.clone(), json!({}));
                }
                format!("EXPOSE {}", specs.join(" "))
            }
            Instr::Volume(vols) => {
                let mut list = Vec::new();
                for v in vols {
                    let v = lex.word(v)?;
                    if v.trim().is_empty() {
                        return Err(BuildError::Invalid("VOLUME specified can not be an empty string".into()));
                    }
                    list.push(v);
                }
                let volumes = object(&mut self.config, "Volumes");
                for v in &list {
                    volumes.insert(v.clone(), json!({}));
                }
                format!("VOLUME [{}]", list.join(" "))
            }
            Instr::Entrypoint(c) => {
                let ep = self.command(c);
                self.config.insert("Entrypoint".into(), json!(ep));
                if !self.cmd_set {
                    self.config.insert("Cmd".into(), Value::Null);
                }
                format!("ENTRYPOINT {}", go_quoted(&ep))
            }
            Instr::Cmd(c) => {
                let cmd = self.command(c);
                self.config.insert("Cmd".into(), json!(cmd));
                self.cmd_set = true;
                format!("CMD {}", go_quoted(&cmd))
            }
            Instr::Healthcheck { flags, test } => self.healthcheck(flags, test.as_ref())?,
            Instr::Stopsignal(s) => {
                let s = lex.word(s)?;
                docker_vocab::signal::parse(&s).map_err(|e| BuildError::Invalid(e.to_string()))?;
                self.config.insert("StopSignal".into(), json!(s));
                format!("STOPSIGNAL {s}")
            }
            Instr::Onbuild(trigger) => {
                let mut list = strings(self.config.get("OnBuild"));
                list.push(trigger.clone());
                self.config.insert("OnBuild".into(), json!(list));
                format!("ONBUILD {trigger}")
            }
            Instr::Shell(s) => {
                if s.is_empty() {
                    return Err(BuildError::Invalid("SHELL requires at least one argument".into()));
                }
                self.config.insert("Shell".into(), json!(s));
                format!("SHELL [{}]", s.join(" "))
            }
            Instr::From { .. } | Instr::Run { .. } | Instr::Copy { .. } | Instr::Arg(_) => return Ok(None),
        };
        Ok(Some(comment))
    }

    fn healthcheck(&mut self, flags: &[(String, Option<String>)], test: Option<&Cmd>) -> Result<String, BuildError> {
        let Some(test) = test else {
            self.config.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
            return Ok("HEALTHCHECK &{[\"NONE\"] \"0s\" \"0s\" \"0s\" \"0s\" '\\x00'}".into());
        };
        let test: Vec<String> = match test {
            Cmd::Exec(v) => std::iter::once("CMD".to_string()).chain(v.iter().cloned()).collect(),
            Cmd::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
        };
        let mut d = [0i64; 4];
        let mut retries = 0u64;
        for (name, value) in flags {
            let value = value.as_deref().unwrap_or_default();
            let slot = match name.as_str() {
                "interval" => 0,
                "timeout" => 1,
                "start-period" => 2,
                "start-interval" => 3,
                "retries" => {
                    retries = value.parse().map_err(|_| BuildError::Invalid(format!("invalid --retries: {value}")))?;
                    continue;
                }
                other => return Err(BuildError::Invalid(format!("unknown flag: {other}"))),
            };
            let dur: docker_vocab::duration::GoDuration =
                value.parse().map_err(|e| BuildError::Invalid(format!("--{name}: {e}")))?;
            let ns = dur.nanos();
            if ns != 0 && ns < 1_000_000 {
                return Err(BuildError::Invalid(format!("Interval \"{name}\" cannot be less than 1ms")));
            }
            d[slot] = ns;
        }
        let mut hc = Map::new();
        hc.insert("Test".into(), json!(test));
        for (i, key) in ["Interval", "Timeout", "StartPeriod", "StartInterval"].iter().enumerate() {
            if d[i] != 0 {
                hc.insert((*key).into(), json!(d[i]));
            }
        }
        if retries != 0 {
            hc.insert("Retries".into(), json!(retries));
        }
        self.config.insert("Healthcheck".into(), Value::Object(hc));
        let durs: Vec<String> =
            d.iter().map(|ns| format!("\"{}\"", docker_vocab::duration::GoDuration::from_nanos(*ns))).collect();
        Ok(format!("HEALTHCHECK &{{{} {} '\\x{:02x}'}}", go_quoted(&test), durs.join(" "), retries))
    }
}

pub fn is_predefined(name: &str) -> bool {
    PREDEFINED.contains(&name)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn object<'m>(config: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let v = config.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut().expect("an object")
}

/// `ENV`/`LABEL` arguments: `k=v …` pairs, or the legacy `k v with spaces`.
fn pairs(text: &str, escape: char, lex: &Lexer, what: &str) -> Result<Vec<(String, String)>, BuildError> {
    let words = raw_words(text, escape);
    let Some(first) = words.first() else {
        return Err(BuildError::Invalid(format!("{what} requires at least one argument")));
    };
    if !first.contains('=') {
        let rest = text.trim_start()[first.len()..].trim();
        if rest.is_empty() && what == "ENV" {
            return Err(BuildError::Invalid(format!("{what} must have two arguments")));
        }
        return Ok(vec![(lex.word(first)?, lex.word(rest)?)]);
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((lex.word(k)?, lex.word(v)?)),
            _ => Err(BuildError::Invalid(format!(
                "Syntax error - can't find = in \"{w}\". Must be of the form: name=value"
            ))),
        })
        .collect()
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quoted(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| serde_json::to_string(s).unwrap_or_default()).collect();
    format!("[{}]", items.join(" "))
}

/// Port specs as `EXPOSE` takes them: `80`, `80/udp`, `8000-8002/tcp`.
fn port_specs(p: &str) -> Result<Vec<String>, BuildError> {
    let bad = || BuildError::Invalid(format!("invalid containerPort: {p}"));
    let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto = proto.to_lowercase();
    let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
    let lo: u16 = lo.parse().map_err(|_| bad())?;
    let hi: u16 = hi.parse().map_err(|_| bad())?;
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|n| format!("{n}/{proto}")).collect())
}

/// A path with `.`, `..` and repeated slashes resolved (Go's `path.Clean`).
pub fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::parser::Dockerfile;

    fn run(lines: &str) -> (State, Vec<String>) {
        let d = Dockerfile::parse(&format!("FROM scratch\n{lines}")).unwrap();
        let mut s = State::default();
        let mut comments = Vec::new();
        for step in &d.stages[0].steps {
            if let Instr::Arg(a) = &step.instr {
                comments.push(s.declare_arg(a, '\\', &HashMap::new(), &[]).unwrap());
                continue;
            }
            comments.push(s.apply(&step.instr, '\\').unwrap().unwrap());
        }
        (s, comments)
    }

    #[test]
    fn metadata_steps_read_as_dockers_history() {
        let (s, c) =
            run("ARG V=2\nENV A=1 B=\"x y\"\nENV C $A-$V\nLABEL l=$C\nWORKDIR /srv\nWORKDIR app\nUSER 1000:1000\n\
             EXPOSE 80 53/udp\nVOLUME /data\nCMD [\"sh\"]\nENTRYPOINT top -b\nSTOPSIGNAL SIGQUIT\nONBUILD RUN x\n\
             HEALTHCHECK --interval=5s --retries=3 CMD wget -q localhost\nSHELL [\"/bin/ash\", \"-c\"]\n");
        assert_eq!(c[0], "ARG V=2");
        assert_eq!(c[1], "ENV A=1 B=x y");
        assert_eq!(c[2], "ENV C=1-2");
        assert_eq!(c[3], "LABEL l=1-2");
        assert_eq!(c[5], "WORKDIR /srv/app");
        assert_eq!(c[7], "EXPOSE 80/tcp 53/udp");
        assert_eq!(c[8], "VOLUME [/data]");
        assert_eq!(c[9], "CMD [\"sh\"]");
        assert_eq!(c[10], "ENTRYPOINT [\"/bin/sh\" \"-c\" \"top -b\"]");
        assert_eq!(c[13], "HEALTHCHECK &{[\"CMD-SHELL\" \"wget -q localhost\"] \"5s\" \"0s\" \"0s\" \"0s\" '\\x03'}");
        assert_eq!(c[14], "SHELL [/bin/ash -c]");
        assert_eq!(s.env(), ["A=1", "B=x y", "C=1-2"]);
        assert_eq!(s.config["Cmd"], json!(["sh"]), "CMD set in the stage survives ENTRYPOINT");
        assert_eq!(s.config["User"], json!("1000:1000"));
        assert_eq!(
            s.config["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "wget -q localhost"], "Interval": 5_000_000_000i64, "Retries": 3})
        );
        assert_eq!(s.config["OnBuild"], json!(["RUN x"]));
        assert_eq!(s.nop("CMD [\"sh\"]").join(" "), "/bin/ash -c #(nop)  CMD [\"sh\"]");
    }

    #[test]
    fn build_args_override_defaults_and_env_shadows_args() {
        let mut s = State::default();
        let given = HashMap::from([("V".to_string(), Some("given".to_string()))]);
        s.declare_arg("V=dflt W=w", '\\', &given, &[]).unwrap();
        assert_eq!(s.run_args(), ["V=given", "W=w"]);
        s.apply(&Instr::Env("W=env".into()), '\\').unwrap();
        assert_eq!(s.run_args(), ["V=given"]);
        assert_eq!(s.vars()["W"], "env");
        let meta = [("M".to_string(), Some("meta".to_string()))];
        s.declare_arg("M", '\\', &HashMap::new(), &meta).unwrap();
        assert_eq!(s.vars()["M"], "meta", "a stage's bare ARG takes the global value");
    }

    #[test]
    fn bad_metadata_is_refused() {
        let mut s = State::default();
        assert!(s.apply(&Instr::Env("A".into()), '\\').is_err());
        assert!(s.apply(&Instr::Expose(vec!["http".into()]), '\\').is_err());
        assert!(s.apply(&Instr::Stopsignal("SIGNOPE".into()), '\\').is_err());
        assert_eq!(clean("/a/./b/../c//"), "/a/c");
    }
}
