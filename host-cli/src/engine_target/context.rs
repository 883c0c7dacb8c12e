//! The persisted default target: `berth context use process|machine[:NAME]`
//! writes `$XDG_CONFIG_HOME/berth/context` (one line, e.g. `machine:dev`),
//! atomically. Only this file is read or written here.

use std::io::Write;
use std::path::PathBuf;

use super::target::Target;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {value:?} is not a context (process, machine or machine:NAME)")]
    Bad { path: PathBuf, value: String },
    #[error("{0:?} is not a context: use process, machine or machine:NAME")]
    BadArg(String),
}

/// `$XDG_CONFIG_HOME/berth` (default `~/.config/berth`).
pub fn config_dir() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root")).join(".config")
        })
        .join("berth")
}

fn path() -> PathBuf {
    config_dir().join("context")
}

/// Parses `process`, `machine` (the default machine) or `machine:NAME`.
pub fn parse(s: &str) -> Option<Target> {
    match s.trim() {
        "process" => Some(Target::Process),
        "machine" => Some(Target::Machine(crate::machine::DEFAULT_MACHINE.into())),
        other => {
            let name = other.strip_prefix("machine:")?;
            crate::machine::layout::valid_name(name).then(|| Target::Machine(name.into()))
        }
    }
}

/// The persisted default, if one was set.
pub fn load() -> Result<Option<Target>, ContextError> {
    let p = path();
    match std::fs::read_to_string(&p) {
        Ok(s) => parse(&s).map(Some).ok_or(ContextError::Bad { path: p, value: s.trim().to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ContextError::Io { path: p, source }),
    }
}

/// Persists `value` (checked first: a bad value changes nothing).
pub fn store(value: &str) -> Result<Target, ContextError> {
    let target = parse(value).ok_or_else(|| ContextError::BadArg(value.to_string()))?;
    let p = path();
    let io = |source| ContextError::Io { path: p.clone(), source };
    let dir = config_dir();
    std::fs::create_dir_all(&dir).map_err(io)?;
    let tmp = dir.join(".context.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    writeln!(f, "{}", target).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &p).map_err(io)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_refuses_the_rest() {
        assert_eq!(parse("process\n"), Some(Target::Process));
        assert_eq!(parse("machine"), Some(Target::Machine("default".into())));
        assert_eq!(parse("machine:dev"), Some(Target::Machine("dev".into())));
        assert_eq!(parse("machine:../x"), None);
        assert_eq!(parse("vm"), None);
        // What is written reads back as the same target.
        assert_eq!(parse(&Target::Machine("dev".into()).to_string()), Some(Target::Machine("dev".into())));
    }
}
