//! Tar extraction into a root (`PUT /archive`), tar creation from one
//! (`GET /archive`, `export`) and the stat header (`HEAD /archive`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::*;

fn tar_of(entries: &[(&str, tar::EntryType, &str, u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data, mode) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(*mode);
        h.set_mtime(1_600_000_000);
        if kind.is_symlink() || kind.is_hard_link() {
            h.set_size(0);
            b.append_link(&mut h, name, data).unwrap();
        } else {
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, data.as_bytes()).unwrap();
        }
    }
    b.into_inner().unwrap()
}

fn put(root: &Root, dest: &str, t: &[u8]) -> Result<(), ConfinedError> {
    extract(root, Path::new(dest), t, ExtractOptions::default())
}

#[test]
fn extraction_follows_container_symlinks_inside_the_root_only() {
    let bed = Bed::new();
    let root = bed.open();
    use tar::EntryType::{Link, Regular, Symlink};
    // The container made /tmp/out point at the host's directory.
    std::os::unix::fs::symlink(bed.host.path(), bed.root.join("tmp/out")).unwrap();
    let t = tar_of(&[("out/evil", Regular, "pwned", 0o644), ("ok.txt", Regular, "fine", 0o640)]);
    put(&root, "/tmp", &t).unwrap();
    bed.assert_host_untouched();
    let inside = bed.root.join(bed.host.path().strip_prefix("/").unwrap()).join("evil");
    assert_eq!(std::fs::read_to_string(inside).unwrap(), "pwned", "written where the container sees it");
    let ok = std::fs::metadata(bed.root.join("tmp/ok.txt")).unwrap();
    assert_eq!((ok.mode() & 0o777, ok.mtime()), (0o640, 1_600_000_000));

    let t = tar_of(&[("link", Symlink, "/", 0o777), ("link/escape", Regular, "x", 0o644)]);
    put(&root, "/tmp", &t).unwrap();
    assert!(bed.root.join("escape").exists(), "an absolute link target is the container's root");
    // Through the dest itself, and through `..` in a link target.
    put(&root, "/up", &tar_of(&[("via-up", Regular, "u", 0o644)])).unwrap();
    assert!(bed.root.join("etc/via-up").exists());

    let t = tar_of(&[("hl", Link, "/no/such", 0o644)]);
    assert!(put(&root, "/tmp", &t).is_err(), "hard link to a missing in-root file");
    let t = tar_of(&[("hl", Link, "ok.txt", 0o644)]);
    put(&root, "/tmp", &t).unwrap();
    assert_eq!(std::fs::metadata(bed.root.join("tmp/hl")).unwrap().ino(), ok.ino());
    bed.assert_host_untouched();
}

#[test]
fn a_planted_symlink_is_replaced_not_written_through() {
    let bed = Bed::new();
    let root = bed.open();
    // /last -> /etc/passwd: a file entry named `last` replaces the link.
    put(&root, "/", &tar_of(&[("last", tar::EntryType::Regular, "new", 0o644)])).unwrap();
    assert_eq!(std::fs::read_to_string(bed.root.join("etc/passwd")).unwrap(), "inside");
    assert_eq!(std::fs::read_to_string(bed.root.join("last")).unwrap(), "new");
}

#[test]
fn a_directory_mode_is_not_applied_through_a_later_symlink() {
    let bed = Bed::new();
    let root = bed.open();
    use tar::EntryType::{Directory, Symlink};
    let t = tar_of(&[("d/", Directory, "", 0o4777), ("d", Symlink, "/etc/passwd", 0o777)]);
    put(&root, "/tmp", &t).unwrap();
    assert!(std::fs::symlink_metadata(bed.root.join("tmp/d")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::metadata(bed.root.join("etc/passwd")).unwrap().mode() & 0o7777, 0o644);
    // A directory that stays gets its mode once its children are in.
    let t = tar_of(&[("ro/", Directory, "", 0o555), ("ro/f", tar::EntryType::Regular, "f", 0o644)]);
    put(&root, "/tmp", &t).unwrap();
    assert_eq!(std::fs::metadata(bed.root.join("tmp/ro")).unwrap().mode() & 0o7777, 0o555);
}

#[test]
fn dotdot_names_and_overwrite_rules() {
    let bed = Bed::new();
    let root = bed.open();
    let mut raw = tar_of(&[("aaaaaaaa", tar::EntryType::Regular, "x", 0o644)]);
    // Rewrite the name in place to "../evil" (the builder refuses it).
    raw[..8].copy_from_slice(b"../evil\0");
    let mut h = tar::Header::from_byte_slice(&raw[..512]).clone();
    h.set_cksum();
    raw[..512].copy_from_slice(h.as_bytes());
    let err = put(&root, "/tmp", &raw).unwrap_err();
    assert!(matches!(err, ConfinedError::Escapes { .. }), "{err}");

    let t = tar_of(&[("etc", tar::EntryType::Regular, "x", 0o644)]);
    let opts = ExtractOptions { no_overwrite_dir_non_dir: true, ..Default::default() };
    assert!(extract(&root, Path::new("/"), &t[..], opts).is_err(), "a file must not replace a directory");
    assert!(bed.root.join("etc/passwd").exists());
    put(&root, "/", &t).unwrap();
    assert_eq!(std::fs::read_to_string(bed.root.join("etc")).unwrap(), "x", "Docker replaces it by default");
    bed.assert_host_untouched();
}

fn names_in(t: &[u8]) -> Vec<(String, tar::EntryType)> {
    let mut ar = tar::Archive::new(t);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.path().unwrap().to_string_lossy().into_owned(), e.header().entry_type())
        })
        .collect()
}

#[test]
fn archives_hold_only_the_roots_files_and_links_as_links() {
    let bed = Bed::new();
    let root = bed.open();
    std::os::unix::fs::symlink(bed.host.path(), bed.root.join("etc/to-host")).unwrap();
    std::fs::hard_link(bed.root.join("etc/passwd"), bed.root.join("etc/again")).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    append_node(root.resolve_nofollow(Path::new("/abs")).unwrap(), Path::new("abs"), &mut b).unwrap();
    let t = b.into_inner().unwrap();
    assert_eq!(names_in(&t), [("abs".to_string(), tar::EntryType::Symlink)], "the last link is not followed");

    let mut b = tar::Builder::new(Vec::new());
    append_node(root.resolve_nofollow(Path::new("/abs/.")).unwrap(), Path::new("."), &mut b).unwrap();
    let t = b.into_inner().unwrap();
    let names = names_in(&t);
    // The tar crate writes `./x` as `x`.
    assert!(names.contains(&("to-host".into(), tar::EntryType::Symlink)), "{names:?}");
    let kinds: Vec<_> = names.iter().filter(|(n, _)| n == "passwd" || n == "again").map(|(_, k)| *k).collect();
    assert_eq!(kinds, [tar::EntryType::Regular, tar::EntryType::Link], "hard links kept: {names:?}");

    let mut b = tar::Builder::new(Vec::new());
    append_root(&root, &mut b).unwrap();
    let t = b.into_inner().unwrap();
    let names = names_in(&t);
    assert!(names.iter().any(|(n, _)| n == "etc/passwd"), "{names:?}");
    assert!(!names.iter().any(|(n, _)| n.contains("canary")), "{names:?}");
    let mut ar = tar::Archive::new(&t[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut e, &mut s).unwrap();
        assert!(!s.contains("host"), "read the host's canary through {:?}", e.path().unwrap());
    }
}

fn stat_of(root: &Root, p: &str) -> Result<PathStat, ConfinedError> {
    let n = root.resolve_nofollow(Path::new(p))?;
    PathStat::of(root, Path::new(p), &n)
}

#[test]
fn the_stat_header_describes_the_entry_as_the_container_sees_it() {
    let bed = Bed::new();
    let root = bed.open();
    let s = stat_of(&root, "/abs").unwrap();
    assert_eq!(s.name, "abs");
    assert_eq!(s.link_target, "/etc");
    assert_ne!(s.mode & (1 << 27), 0, "a symlink");
    let s = stat_of(&root, "/hostdir").unwrap();
    assert_eq!(s.link_target, bed.host.path().to_str().unwrap(), "a dangling link reports its stored target");
    let s = stat_of(&root, "/up/").unwrap();
    assert_ne!(s.mode & (1 << 31), 0, "a directory (trailing slash follows)");
    let s = stat_of(&root, "/etc/passwd").unwrap();
    assert_eq!((s.size, s.mode, s.link_target.as_str()), (6, 0o644, ""));
    assert!(stat_of(&root, "/no/such").unwrap_err().is_not_found());
    use base64::Engine as _;
    let json = base64::engine::general_purpose::STANDARD.decode(s.header()).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["name"], "passwd");
    assert_eq!(v["size"], 6);
}
