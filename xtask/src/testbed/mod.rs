//! The nested-KVM test bed: `cargo xtask testbed -- CMD...`.
//!
//! This host's /dev/kvm cannot boot Linux (PVM), so berth's VM tests run in
//! an outer VM under QEMU's TCG emulating an AMD EPYC with SVM, where
//! kvm_amd gives a real /dev/kvm. The outer VM boots Debian's kernel with
//! the test bed's initramfs (see `images/testbed/init.sh`), sees the host's root
//! filesystem read-only through 9p under a writable overlay on a scratch
//! disk, runs the command, and reports its exit status through the run
//! directory. Everything of a run lives in one directory that is removed
//! afterwards; nothing on the host is written outside it.

mod options;
mod qemu;
mod stall_report;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, IoContext, Result};
use crate::{images, paths, prereq, process};

pub use options::Options;
pub use qemu::{Outcome, last_lines};

/// Runs `command` in the test bed and returns its exit status and console.
pub fn run(opts: &Options, command: &[String]) -> Result<Outcome> {
    if command.is_empty() {
        return Err(Error::Invalid("testbed: no command given (cargo xtask testbed -- CMD...)".into()));
    }
    let qemu = prereq::qemu()?;
    let mkfs = prereq::tool("mkfs.ext4", "e2fsprogs")?;
    let images = images::build()?;
    build_release_binaries()?;

    let runs = paths::cache_dir().join("testbed-runs");
    std::fs::create_dir_all(&runs).at(&runs)?;
    remove_abandoned_runs(&runs);
    let run_dir =
        tempfile::Builder::new().prefix(&format!("run-{}-", std::process::id())).tempdir_in(&runs).at(&runs)?;

    std::fs::write(run_dir.path().join("run.sh"), run_script(&images, command)).at(run_dir.path())?;
    let scratch = run_dir.path().join("scratch.img");
    // A boot that stalls before the outer init runs (a TCG hiccup, never
    // our command) is retried once on a fresh scratch disk; for a suite, an
    // outer VM that froze under the command is retried twice, a run lost
    // otherwise once, and a failed run in which a nested guest
    // triple-faulted once (the nested emulation's fault, issue 21). Each
    // failure is printed with its report.
    let (mut stalls, mut freezes, mut losses, mut faults) = (0, 0, 0, 0);
    let mut retried = String::new();
    loop {
        make_scratch_disk(&mkfs, &scratch, opts.disk_gib)?;
        for f in ["status", "heartbeat"] {
            let _ = std::fs::remove_file(run_dir.path().join(f));
        }
        match qemu::boot(&qemu, &images, run_dir.path(), &scratch, opts) {
            Ok(outcome) if opts.retry_lost_runs && faults == 0 && nested_guest_triple_fault(&outcome) => {
                faults += 1;
                let line = "testbed: the command failed after a nested guest triple-faulted (KVM_EXIT_SHUTDOWN, \
                            issue 21); running it once more in a fresh test bed";
                eprintln!("{line}\n{}", last_lines(&outcome.console, 30));
                retried.push_str(line);
                retried.push('\n');
            }
            Ok(mut outcome) => {
                // The retry is said in the console the caller keeps.
                outcome.console.insert_str(0, &retried);
                return Ok(outcome);
            }
            Err(qemu::BootFailure::Other(e)) => return Err(e),
            Err(qemu::BootFailure::Stalled) => {
                stalls += 1;
                if stalls > 1 {
                    eprintln!("testbed: the outer VM stalled (no boot, or a vCPU stuck in QEMU's TCG)");
                    // Dropping run_dir removes the run directory and the scratch disk.
                    return Err(Error::Invalid(
                        "the test bed's outer VM stalled on every try (QEMU TCG: no boot, or a vCPU stuck); try again"
                            .into(),
                    ));
                }
                eprintln!("testbed: the outer VM stalled (no boot, or a vCPU stuck in QEMU's TCG); booting it again");
            }
            Err(qemu::BootFailure::Frozen(e)) => {
                freezes += 1;
                if !opts.retry_lost_runs || freezes > 2 {
                    return Err(e);
                }
                eprintln!("testbed: {e}\ntestbed: running it again in a fresh test bed");
            }
            Err(qemu::BootFailure::Lost(e)) => {
                losses += 1;
                if !opts.retry_lost_runs || losses > 1 {
                    return Err(e);
                }
                eprintln!("testbed: {e}\ntestbed: the test bed lost the run; running it once more in a fresh test bed");
            }
        }
    }
}

/// A failed run whose console shows a nested guest's triple fault, as
/// berth-vmm reports it (QEMU's guests end with no such line).
fn nested_guest_triple_fault(outcome: &Outcome) -> bool {
    outcome.status != 0 && outcome.console.contains("triple-faulted (KVM_EXIT_SHUTDOWN)")
}

/// The workspace's release binaries, which the command finds on PATH
/// (xtask among them, for the steps that run inside the test bed).
pub fn build_release_binaries() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    process::run(Command::new(cargo).current_dir(paths::workspace_root()).args([
        "build",
        "--quiet",
        "--release",
        "--package",
        "berth",
        "--package",
        "berth-vmm",
        "--package",
        "xtask",
    ]))
}

/// The script the outer init runs in the overlay root: the environment
/// (images, PATH with the release binaries), the caller's directory, the
/// command.
fn run_script(images: &images::Images, command: &[String]) -> String {
    let release = paths::target_dir().join("release");
    let path = format!("{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", release.display());
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));

    let mut s = String::from("# written by cargo xtask testbed\n");
    let _ = writeln!(s, "export PATH={}", shell_quote(&path));
    s.push_str("export HOME=/root BERTH_IN_TESTBED=1\n");
    let _ = writeln!(s, "export BERTH_WORKSPACE={}", shell_quote(&paths::workspace_root().display().to_string()));
    for (k, v) in images.entries() {
        let _ = writeln!(s, "export {k}={}", shell_quote(&v.display().to_string()));
    }
    let _ = writeln!(s, "cd {} 2>/dev/null || cd /", shell_quote(&cwd.display().to_string()));
    let quoted: Vec<String> = command.iter().map(|a| shell_quote(a)).collect();
    let _ = writeln!(s, "{}", quoted.join(" "));
    s
}

/// Quotes `s` for POSIX sh: single quotes, with embedded ones spliced in.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@%".contains(&b)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn make_scratch_disk(mkfs: &Path, path: &Path, gib: u64) -> Result<()> {
    let f = std::fs::File::create(path).at(path)?;
    f.set_len(gib << 30).at(path)?;
    drop(f);
    process::output(Command::new(mkfs).args(["-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1"]).arg(path))?;
    Ok(())
}

/// Run directories whose owner died without cleaning up (killed with -9).
fn remove_abandoned_runs(runs: &Path) {
    let Ok(entries) = std::fs::read_dir(runs) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("run-").and_then(|r| r.split('-').next()).and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_shell() {
        for arg in ["plain", "two words", "it's", "$HOME", "a\"b", "", "semi;colon"] {
            let out = Command::new("sh").arg("-c").arg(format!("printf %s {}", shell_quote(arg))).output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), arg);
        }
    }
}
