//! `user[:group]` and `HostConfig.GroupAdd` to numeric ids, read from the
//! container's own /etc/passwd and /etc/group (never the host's: the files
//! are resolved inside the rootfs by `crate::confined`, so a symlink in the
//! image cannot point the engine at a host file), as Docker resolves them;
//! and the resolved user in the spec's `process.user`.

use std::path::Path;

use oci_spec::runtime::{Spec, UserBuilder};

use super::base;
use crate::runtime::RuntimeError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the groups that list the user by name.
    pub additional_gids: Vec<u32>,
    /// From /etc/passwd; "/" when the user has no entry (Docker's choice).
    pub home: String,
}

/// Resolves `spec` (empty, `name`, `uid`, `name:group`, `uid:gid`) against
/// the files under `rootfs`. Unknown names are errors with Docker's text;
/// unknown numeric ids are allowed.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<ResolvedUser, RuntimeError> {
    let passwd = read_db(rootfs, "passwd");
    let group = read_db(rootfs, "group");
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    // passwd fields: name:x:uid:gid:gecos:home:shell
    let entry = passwd.iter().find(|f| f.first().is_some_and(|n| n == user_part)).or_else(|| {
        user_part
            .parse::<u32>()
            .ok()
            .and_then(|uid| passwd.iter().find(|f| f.get(2).and_then(|v| v.parse().ok()) == Some(uid)))
    });
    let (uid, mut gid, name, home) = match (entry, user_part.parse::<u32>()) {
        (Some(f), _) => {
            let uid = f.get(2).and_then(|v| v.parse().ok()).ok_or_else(|| bad_db("passwd"))?;
            let gid = f.get(3).and_then(|v| v.parse().ok()).ok_or_else(|| bad_db("passwd"))?;
            (uid, gid, f.first().cloned(), f.get(5).cloned().unwrap_or_else(|| "/".into()))
        }
        (None, Ok(uid)) => (uid, 0, None, "/".to_string()),
        (None, Err(_)) => {
            return Err(RuntimeError::InvalidRequest(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            )));
        }
    };
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = match group.iter().find(|f| f.first().is_some_and(|n| n == g)) {
            Some(f) => f.get(2).and_then(|v| v.parse().ok()).ok_or_else(|| bad_db("group"))?,
            None => g.parse::<u32>().map_err(|_| {
                RuntimeError::InvalidRequest(format!("unable to find group {g}: no matching entries in group file"))
            })?,
        };
    }
    let mut additional_gids = Vec::new();
    if let Some(name) = name.as_deref() {
        for f in &group {
            let members = f.get(3).map(|m| m.split(',').any(|m| m == name)).unwrap_or(false);
            if let (true, Some(g)) = (members, f.get(2).and_then(|v| v.parse::<u32>().ok()))
                && g != gid
                && !additional_gids.contains(&g)
            {
                additional_gids.push(g);
            }
        }
    }
    Ok(ResolvedUser { uid, gid, additional_gids, home })
}

/// The process's uid, gid and supplementary groups (always listed, even
/// when there are none, as Docker writes them).
pub fn with_user(spec: &mut Spec, user: &ResolvedUser) -> Result<(), RuntimeError> {
    let u = UserBuilder::default()
        .uid(user.uid)
        .gid(user.gid)
        .additional_gids(user.additional_gids.clone())
        .build()
        .map_err(RuntimeError::spec("process.user"))?;
    base::process_mut(spec)?.set_user(u);
    Ok(())
}

fn bad_db(which: &str) -> RuntimeError {
    RuntimeError::InvalidRequest(format!("the container's /etc/{which} has a malformed entry"))
}

/// `HostConfig.GroupAdd` as gids, in the order given: a name must be in
/// the container's /etc/group, a number is taken as it is (Docker's
/// `GetAdditionalGroups`).
pub fn additional_groups(rootfs: &Path, wanted: &[String]) -> Result<Vec<u32>, RuntimeError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let group = read_db(rootfs, "group");
    let mut gids = Vec::new();
    for g in wanted {
        let numeric =
            match g.parse::<i64>() {
                Ok(n) => Some(u32::try_from(n).ok().filter(|n| *n <= i32::MAX as u32).ok_or_else(|| {
                    RuntimeError::InvalidRequest("uids and gids must be in range 0-2147483647".into())
                })?),
                Err(_) => None,
            };
        let entry = group.iter().find(|f| {
            f.first().is_some_and(|n| n == g)
                || numeric.is_some_and(|n| f.get(2).and_then(|v| v.parse().ok()) == Some(n))
        });
        let gid = match (entry, numeric) {
            (Some(f), _) => f.get(2).and_then(|v| v.parse().ok()).ok_or_else(|| bad_db("group"))?,
            (None, Some(n)) => n,
            (None, None) => {
                return Err(RuntimeError::InvalidRequest(format!(
                    "unable to find group {g}: no matching entries in group file"
                )));
            }
        };
        if !gids.contains(&gid) {
            gids.push(gid);
        }
    }
    Ok(gids)
}

/// Colon-separated lines of the container's `/etc/<which>`; a missing or
/// unreadable file is empty (scratch images have none). The path is
/// resolved inside `rootfs` (symlinks stay in it) and read only when it
/// ends at a regular file.
fn read_db(rootfs: &Path, which: &str) -> Vec<Vec<String>> {
    let text = (|| {
        let root = crate::confined::Root::open(rootfs).ok()?;
        let node = root.resolve(&Path::new("/etc").join(which)).ok()?;
        if node.stat().ok()?.size > 16 << 20 {
            return None;
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut node.open_read().ok()?, &mut text).ok()?;
        Some(text)
    })()
    .unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').map(String::from).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(d.path().join("etc")).expect("mkdir");
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\napp:x:1000:1000::/srv/app:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(d.path().join("etc/group"), "root:x:0:\napp:x:1000:\nwheel:x:10:app,root\nnogroup:x:65534:\n")
            .expect("group");
        d
    }

    #[test]
    fn names_and_numbers() {
        let r = rootfs();
        assert_eq!(resolve(r.path(), "").expect("root").uid, 0);
        let app = resolve(r.path(), "app").expect("app");
        assert_eq!(
            (app.uid, app.gid, app.additional_gids.clone(), app.home.as_str()),
            (1000, 1000, vec![10], "/srv/app")
        );
        let n = resolve(r.path(), "nobody:wheel").expect("nobody:wheel");
        assert_eq!((n.uid, n.gid), (65534, 10));
        let num = resolve(r.path(), "4242:4343").expect("numeric");
        assert_eq!((num.uid, num.gid, num.home.as_str()), (4242, 4343, "/"));
    }

    #[test]
    fn the_user_in_the_spec() {
        let mut spec = base::base("c", Path::new("/r")).expect("base");
        let user = ResolvedUser { uid: 1000, gid: 1000, additional_gids: vec![10, 20], home: "/".into() };
        with_user(&mut spec, &user).expect("user");
        let u = spec.process().as_ref().expect("process").user();
        assert_eq!((u.uid(), u.gid(), u.additional_gids().as_deref()), (1000, 1000, Some(&[10, 20][..])));
        assert_eq!((u.umask(), u.username()), (None, &None));
    }

    #[test]
    fn group_add_takes_names_and_numbers() {
        let r = rootfs();
        let add = |g: &[&str]| additional_groups(r.path(), &g.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(add(&["wheel", "1000", "4242", "10"]).expect("groups"), vec![10, 1000, 4242]);
        assert_eq!(add(&[]).expect("none"), Vec::<u32>::new());
        assert_eq!(
            add(&["ghosts"]).unwrap_err().to_string(),
            "unable to find group ghosts: no matching entries in group file"
        );
        assert_eq!(add(&["-1"]).unwrap_err().to_string(), "uids and gids must be in range 0-2147483647");
    }

    /// An /etc/group that is a symlink to an absolute path is read inside
    /// the rootfs, never on the host.
    #[test]
    fn user_databases_are_resolved_inside_the_rootfs() {
        let r = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(r.path().join("etc")).expect("etc");
        std::fs::create_dir_all(r.path().join("real")).expect("real");
        std::fs::write(r.path().join("real/group"), "inside:x:777:\n").expect("group");
        std::os::unix::fs::symlink("/real/group", r.path().join("etc/group")).expect("symlink");
        std::os::unix::fs::symlink("/etc/passwd", r.path().join("etc/passwd")).expect("loop onto itself");
        let add = additional_groups(r.path(), &["inside".to_string()]).expect("in-root symlink followed");
        assert_eq!(add, vec![777]);
        // The host's /etc/passwd knows root; the container's (a link to
        // itself) knows nobody.
        assert!(resolve(r.path(), "root").is_err());
    }

    #[test]
    fn unknown_names_fail_with_dockers_text() {
        let r = rootfs();
        let e = resolve(r.path(), "ghost").expect_err("unknown");
        assert_eq!(e.to_string(), "unable to find user ghost: no matching entries in passwd file");
        assert!(resolve(r.path(), "app:ghosts").is_err());
    }
}
