//! The container's process in its spec: argv, environment (with Docker's
//! HOSTNAME, HOME and, for a TTY, TERM defaults), working directory, the
//! terminal and its initial size. The user is [`super::user`]'s, the
//! capabilities [`super::capabilities`]'s, the rlimits [`super::rlimits`]'s.
//! Must never resolve anything: the runtime resolved the process already.

use oci_spec::runtime::{BoxBuilder, Spec};

use super::base;
use crate::runtime::process::env_default;
use crate::runtime::{ResolvedProcess, RuntimeError};

/// What the process step needs besides the resolved process.
pub struct ProcessInput<'a> {
    pub process: &'a ResolvedProcess,
    pub hostname: &'a str,
    /// The user's home directory, for HOME.
    pub home: &'a str,
    pub tty: bool,
    /// `HostConfig.ConsoleSize`: `[height, width]`, used only with a TTY.
    pub console_size: Option<&'a [usize]>,
}

/// Argv (Docker's Path then Args), env, cwd, terminal and console size.
pub fn with_process(spec: &mut Spec, input: &ProcessInput<'_>) -> Result<(), RuntimeError> {
    let mut env = input.process.env.clone();
    env_default(&mut env, "HOSTNAME", input.hostname);
    env_default(&mut env, "HOME", input.home);
    if input.tty {
        env_default(&mut env, "TERM", "xterm");
    }
    let mut args = vec![input.process.path.clone()];
    args.extend(input.process.args.iter().cloned());
    let console_size = match input.console_size.filter(|s| s.len() == 2 && input.tty) {
        Some(size) => Some(
            BoxBuilder::default()
                .height(size[0] as u64)
                .width(size[1] as u64)
                .build()
                .map_err(RuntimeError::spec("process.consoleSize"))?,
        ),
        None => None,
    };
    base::process_mut(spec)?
        .set_terminal(Some(input.tty))
        .set_args(Some(args))
        .set_env(Some(env))
        .set_cwd(input.process.cwd.clone().into())
        .set_console_size(console_size);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::runtime::spec::base::base;

    fn resolved() -> ResolvedProcess {
        ResolvedProcess {
            path: "/bin/sh".into(),
            args: vec!["-c".into(), "true".into()],
            env: vec!["PATH=/bin".into(), "HOME=/custom".into()],
            cwd: "/work".into(),
            user: String::new(),
        }
    }

    #[test]
    fn argv_env_defaults_and_cwd() {
        let mut spec = base("c", Path::new("/r")).expect("base");
        let p = resolved();
        let input =
            ProcessInput { process: &p, hostname: "web", home: "/root", tty: false, console_size: Some(&[30, 100]) };
        with_process(&mut spec, &input).expect("process");
        let proc = spec.process().as_ref().expect("process");
        assert_eq!(proc.args().as_deref(), Some(&["/bin/sh".to_string(), "-c".into(), "true".into()][..]));
        // HOME from the image wins; HOSTNAME is added; no TERM without a TTY.
        assert_eq!(
            proc.env().as_deref(),
            Some(&["PATH=/bin".to_string(), "HOME=/custom".into(), "HOSTNAME=web".into()][..])
        );
        assert_eq!(proc.cwd(), Path::new("/work"));
        assert_eq!(proc.terminal(), Some(false));
        assert_eq!(proc.console_size(), None, "a console size only with a TTY");
    }

    #[test]
    fn a_tty_gets_term_and_its_size() {
        let mut spec = base("c", Path::new("/r")).expect("base");
        let p = resolved();
        let input =
            ProcessInput { process: &p, hostname: "web", home: "/root", tty: true, console_size: Some(&[30, 100]) };
        with_process(&mut spec, &input).expect("process");
        let proc = spec.process().as_ref().expect("process");
        assert!(proc.env().as_ref().is_some_and(|e| e.iter().any(|v| v == "TERM=xterm")));
        let size = proc.console_size().expect("size");
        assert_eq!((size.height(), size.width(), proc.terminal()), (30, 100, Some(true)));
    }
}
