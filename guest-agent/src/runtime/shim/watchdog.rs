//! Whether an engine can still reach this shim: its control socket must
//! still be the file at `DIR/shim.sock` that it bound, in the directory it
//! started in. A shim nobody can reach would keep its container running
//! forever with no way to stop, inspect or remove it; when the check fails
//! (twice in a row, so that a `delete` in progress is not mistaken for it)
//! the shim stops its container and exits.
//!
//! Owns the check only; what to do about it is `server.rs`'s. Must never
//! remove anything that could belong to a newer shim of the same id (a
//! directory or socket that is not the one this shim made).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// How often the socket is checked: one stat of the directory and one of
/// the socket.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// Consecutive failed `accept`s after which the socket is given up.
pub const MAX_ACCEPT_ERRORS: u32 = 20;

/// (device, inode) of the shim's directory and of its bound socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    dir: (u64, u64),
    sock: (u64, u64),
}

/// What the check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The socket at the path is ours.
    Ok,
    /// Our directory is still there but the socket is gone: the state is
    /// ours to clean up.
    SocketGone,
    /// The directory is gone or is another one, or the socket file is
    /// another shim's: only our own processes may be touched.
    Replaced,
}

fn ident(p: &Path) -> std::io::Result<(u64, u64)> {
    let m = std::fs::symlink_metadata(p)?;
    Ok((m.dev(), m.ino()))
}

/// Right after binding `DIR/shim.sock`.
pub fn identify(dir: &Path) -> std::io::Result<Identity> {
    Ok(Identity { dir: ident(dir)?, sock: ident(&dir.join("shim.sock"))? })
}

pub fn check(dir: &Path, id: &Identity) -> Reach {
    match ident(dir) {
        Ok(d) if d == id.dir => {}
        _ => return Reach::Replaced,
    }
    match ident(&dir.join("shim.sock")) {
        Ok(s) if s == id.sock => Reach::Ok,
        Ok(_) => Reach::Replaced,
        Err(_) => Reach::SocketGone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_or_replaced_socket_or_directory_is_noticed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("c");
        std::fs::create_dir(&dir).expect("dir");
        let bind = || std::os::unix::net::UnixListener::bind(dir.join("shim.sock")).expect("bind");
        let _l = bind();
        let id = identify(&dir).expect("identify");
        assert_eq!(check(&dir, &id), Reach::Ok);
        std::fs::remove_file(dir.join("shim.sock")).expect("rm");
        assert_eq!(check(&dir, &id), Reach::SocketGone);
        let _l2 = bind();
        assert_eq!(check(&dir, &id), Reach::Replaced, "another shim's socket");
        std::fs::remove_dir_all(&dir).expect("rm dir");
        assert_eq!(check(&dir, &id), Reach::Replaced);
        std::fs::create_dir(&dir).expect("dir again");
        assert_eq!(check(&dir, &id), Reach::Replaced, "a new directory of the same name is not ours");
    }
}
