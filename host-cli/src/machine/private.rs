//! Files and directories only their owner may use, whatever the umask:
//! a machine's directory (0700), its disk, logs and sockets (0600), and the
//! runtime directory of the process engine, which is refused when someone
//! else could have planted it (a `/tmp/berth-$UID` made by another user
//! could hold a docker.sock that receives the user's credentials).
//!
//! Owns setting and checking those modes; it must never loosen a mode, and
//! never use a directory it did not verify.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// `path` (and missing parents) made, then set 0700: the umask only ever
/// narrows what mkdir gives, and an existing directory keeps its mode
/// otherwise.
pub fn dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(path)?;
    std::fs::set_permissions(path, Permissions::from_mode(DIR_MODE))
}

/// Opens (creating 0600) with `opts`, then sets 0600 on the open file, so a
/// file made by an earlier version under a loose umask is narrowed too.
pub fn open(path: &Path, opts: &mut OpenOptions) -> io::Result<File> {
    let f = opts.mode(FILE_MODE).open(path)?;
    f.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// A socket file just bound: 0600 (bind(2) gives 0777 less the umask). The
/// directory it is in is the owner's alone, so nobody reaches it before.
pub fn socket(path: &Path) -> io::Result<()> {
    std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE))
}

/// A runtime directory in a place others can write (`/tmp/berth-$UID`):
/// made 0700 if absent; if present, it must be a real directory (not a
/// link), owned by this user and closed to group and others.
pub fn owned_dir(path: &Path) -> io::Result<()> {
    match DirBuilder::new().mode(DIR_MODE).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(path)?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let me = unsafe { libc::getuid() };
    let refuse = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing to use {}: {why}; remove it, or set XDG_RUNTIME_DIR", path.display()),
        ))
    };
    if !meta.file_type().is_dir() {
        return refuse("it is not a directory".into());
    }
    if meta.uid() != me {
        return refuse(format!("it is owned by uid {}, not {me}", meta.uid()));
    }
    if meta.mode() & 0o077 != 0 {
        return refuse(format!("its mode {:o} lets other users in", meta.mode() & 0o7777));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checks run in a child process with umask 000 (the umask is the
    /// whole process's): the test re-runs itself with this variable set.
    const CHILD: &str = "BERTH_PRIVATE_MODES_CHILD";

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).expect("stat").mode() & 0o7777
    }

    #[test]
    fn modes_are_the_owners_alone_under_umask_000() {
        let Some(dir) = std::env::var_os(CHILD) else {
            let tmp = tempfile::tempdir().expect("tempdir");
            let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args(["--exact", "machine::private::tests::modes_are_the_owners_alone_under_umask_000", "--nocapture"])
                .env(CHILD, tmp.path())
                .output()
                .expect("run the child");
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success() && text.contains("1 passed"), "{text}");
            return;
        };
        let root = Path::new(&dir);
        // SAFETY: umask has no preconditions; this process is the child.
        unsafe { libc::umask(0) };
        let m = root.join("machines/m");
        dir_(&m);
        assert_eq!(mode(&m), DIR_MODE);
        let disk = m.join("data.img");
        open(&disk, OpenOptions::new().write(true).create(true)).expect("disk");
        assert_eq!(mode(&disk), FILE_MODE);
        // A file an older berth left world-readable is narrowed on open.
        let log = m.join("machine.log");
        std::fs::write(&log, b"x").expect("log");
        std::fs::set_permissions(&log, Permissions::from_mode(0o666)).expect("chmod");
        open(&log, OpenOptions::new().append(true).create(true)).expect("log");
        assert_eq!(mode(&log), FILE_MODE);
        let sock = m.join("docker.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        assert_eq!(mode(&sock), 0o777, "bind under umask 000");
        socket(&sock).expect("chmod");
        assert_eq!(mode(&sock), FILE_MODE);

        // The runtime directory: made 0700; refused when open to others or
        // when it is a link.
        let rt = root.join("berth-rt");
        owned_dir(&rt).expect("made");
        assert_eq!(mode(&rt), DIR_MODE);
        std::fs::set_permissions(&rt, Permissions::from_mode(0o777)).expect("chmod");
        let e = owned_dir(&rt).expect_err("open to others");
        assert!(e.to_string().contains("lets other users in"), "{e}");
        let link = root.join("berth-link");
        std::os::unix::fs::symlink(&m, &link).expect("symlink");
        let e = owned_dir(&link).expect_err("a link");
        assert!(e.to_string().contains("not a directory"), "{e}");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let theirs = root.join("berth-theirs");
            owned_dir(&theirs).expect("made");
            std::os::unix::fs::chown(&theirs, Some(12345), None).expect("chown");
            let e = owned_dir(&theirs).expect_err("another user's");
            assert!(e.to_string().contains("owned by uid 12345"), "{e}");
        }
    }

    fn dir_(p: &Path) {
        dir(p).expect("dir");
    }
}
