//! Writing the runtime's own state files (`config.json`, `shim.json`,
//! `exit.json`): whole or not at all, without fsync.
//!
//! Why no fsync: this state lives only as long as the machine does. After a
//! crash of the machine every shim and container is gone and the engine
//! cleans the directories; what must hold is that a reader never sees half
//! a file when a *process* (engine or shim) dies mid-write, and rename
//! gives that. The fsyncs cost 3–12 ms each on a busy disk, on every
//! container start.
//!
//! Must never: be used for the engine's own records (those outlive the
//! machine and use `durable::write_atomic`, which syncs).

use std::io::Write;
use std::path::Path;

/// Writes `data` to a temporary file beside `path` and renames it over
/// `path`.
pub fn write_replace(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    let written = f.write_all(data);
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("exit.json");
        write_replace(&p, b"first").expect("write");
        write_replace(&p, b"second").expect("replace");
        assert_eq!(std::fs::read(&p).expect("read"), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("exit.json")]);
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_stray_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("gone/exit.json");
        assert!(write_replace(&p, b"x").is_err());
        assert!(!dir.path().join("gone").exists());
    }
}
