//! Layer unpacking: a well-formed layer in every compression, whiteouts in
//! both formats, and one test per hostile layer. Malicious tars are built
//! with raw header writes, since the tar crate's safe setters refuse `..`.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::*;

/// One entry written with raw header fields, bypassing the tar crate's
/// path checks.
pub(crate) struct Raw<'a> {
    pub name: &'a [u8],
    pub kind: tar::EntryType,
    pub link: &'a [u8],
    pub data: &'a [u8],
    pub mode: u32,
}

impl<'a> Raw<'a> {
    pub fn file(name: &'a [u8], data: &'a [u8]) -> Self {
        Raw { name, kind: tar::EntryType::Regular, link: b"", data, mode: 0o644 }
    }
    pub fn dir(name: &'a [u8]) -> Self {
        Raw { name, kind: tar::EntryType::Directory, link: b"", data: b"", mode: 0o755 }
    }
    pub fn symlink(name: &'a [u8], target: &'a [u8]) -> Self {
        Raw { name, kind: tar::EntryType::Symlink, link: target, data: b"", mode: 0o777 }
    }
    pub fn hardlink(name: &'a [u8], target: &'a [u8]) -> Self {
        Raw { name, kind: tar::EntryType::Link, link: target, data: b"", mode: 0o644 }
    }
}

pub(crate) fn raw_tar(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        {
            let gnu = h.as_gnu_mut().expect("gnu header");
            gnu.name[..e.name.len()].copy_from_slice(e.name);
            gnu.linkname[..e.link.len()].copy_from_slice(e.link);
        }
        h.set_entry_type(e.kind);
        h.set_size(e.data.len() as u64);
        h.set_mode(e.mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append(&h, e.data).expect("append");
    }
    b.into_inner().expect("finish tar")
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

struct Bed {
    _dir: tempfile::TempDir,
    outside: PathBuf,
    staging: PathBuf,
    dest: PathBuf,
}

impl Bed {
    fn new() -> Bed {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).expect("outside");
        std::fs::write(outside.join("secret"), b"keep").expect("secret");
        Bed { staging: dir.path().join("staging"), dest: dir.path().join("dest"), outside, _dir: dir }
    }

    fn unpack(&self, stream: &[u8], expect: &Expect) -> Result<Unpacked, UnpackError> {
        unpack_layer(stream, &self.staging, &self.dest, expect, WhiteoutFormat::for_this_process())
    }

    /// A rejected layer leaves no trace: nothing at dest or staging, and the
    /// directory beside them exactly as it was.
    fn assert_nothing_written(&self) {
        assert!(!self.dest.exists(), "dest must not exist after a rejected layer");
        assert!(!self.staging.exists(), "staging must be removed after a rejected layer");
        let names: Vec<_> = fsutil::list_dir(&self.outside).expect("list").into_iter().collect();
        assert_eq!(names, vec![self.outside.join("secret")], "outside dir changed");
        assert_eq!(std::fs::read(self.outside.join("secret")).expect("secret"), b"keep");
    }
}

fn good_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, link: Option<&str>, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).expect("link");
        }
        b.append_data(&mut h, path, data).expect("append");
    };
    add("etc/", tar::EntryType::Directory, 0o755, None, b"");
    add("etc/hello", tar::EntryType::Regular, 0o640, None, b"hello world\n");
    add("etc/hello-again", tar::EntryType::Link, 0o640, Some("etc/hello"), b"");
    add("bin/sh", tar::EntryType::Symlink, 0o777, Some("/bin/busybox"), b"");
    add("ro/", tar::EntryType::Directory, 0o555, None, b"");
    add("ro/inside", tar::EntryType::Regular, 0o4755, None, b"#!/bin/sh\n");
    add("run/fifo", tar::EntryType::Fifo, 0o600, None, b"");
    b.into_inner().expect("tar")
}

#[test]
fn well_formed_layer_in_each_compression_gives_one_tree_and_diff_id() {
    let tar = good_layer();
    let diff_id = Digest::of(&tar);
    let zst = zstd::encode_all(&tar[..], 3).expect("zstd");
    for (label, stream) in [("plain", tar.clone()), ("gzip", gzip(&tar)), ("zstd", zst)] {
        let bed = Bed::new();
        let expect = Expect { compressed: Some(Digest::of(&stream)), diff_id: Some(diff_id.clone()) };
        let u = bed.unpack(&stream, &expect).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(u.diff_id, diff_id, "{label}");
        assert!(!bed.staging.exists(), "{label}: staging renamed away");
        let d = &bed.dest;
        assert_eq!(std::fs::read(d.join("etc/hello")).expect("hello"), b"hello world\n");
        let a = std::fs::metadata(d.join("etc/hello")).expect("meta");
        let b = std::fs::metadata(d.join("etc/hello-again")).expect("meta");
        assert_eq!(a.ino(), b.ino(), "{label}: hardlink shares the inode");
        assert_eq!(a.mode() & 0o7777, 0o640);
        assert_eq!(a.mtime(), 1_600_000_000);
        assert_eq!(std::fs::read_link(d.join("bin/sh")).expect("link"), Path::new("/bin/busybox"));
        assert_eq!(std::fs::metadata(d.join("ro")).expect("ro").mode() & 0o7777, 0o555);
        assert_eq!(std::fs::metadata(d.join("ro/inside")).expect("x").mode() & 0o7777, 0o4755);
        assert!(std::fs::symlink_metadata(d.join("run/fifo")).expect("fifo").file_type().is_fifo());
        if nix::unistd::geteuid().is_root() {
            assert_eq!((a.uid(), a.gid()), (1000, 1001), "{label}: ownership kept as root");
        }
        fsutil::remove_any(d).expect("cleanup");
    }
}

#[test]
fn whiteouts_become_overlay_devices_or_stay_markers() {
    let tar = raw_tar(&[
        Raw::dir(b"a/"),
        Raw::file(b"a/.wh.gone", b""),
        Raw::dir(b"opq/"),
        Raw::file(b"opq/.wh..wh..opq", b""),
        Raw::file(b"opq/new", b"n"),
        Raw::file(b".wh..wh.plnk", b""),
    ]);
    let bed = Bed::new();
    unpack_layer(&tar[..], &bed.staging, &bed.dest, &Expect::default(), WhiteoutFormat::Aufs).expect("aufs");
    assert!(bed.dest.join("a/.wh.gone").is_file());
    assert!(bed.dest.join("opq/.wh..wh..opq").is_file());
    assert!(!bed.dest.join(".wh..wh.plnk").exists(), "AUFS metadata is dropped");

    if nix::unistd::geteuid().is_root() {
        let bed = Bed::new();
        unpack_layer(&tar[..], &bed.staging, &bed.dest, &Expect::default(), WhiteoutFormat::Overlay).expect("overlay");
        let wh = std::fs::symlink_metadata(bed.dest.join("a/gone")).expect("whiteout");
        assert!(wh.file_type().is_char_device() && wh.rdev() == 0, "0:0 char device");
        assert!(!bed.dest.join("a/.wh.gone").exists());
        // tmpfs and ext4 both keep trusted.* xattrs for root.
        let v = xattr::get(bed.dest.join("opq"), OVERLAY_OPAQUE_XATTR).expect("getxattr");
        assert_eq!(v.as_deref(), Some(&b"y"[..]));
        assert_eq!(std::fs::read(bed.dest.join("opq/new")).expect("new"), b"n");
    }
}

#[test]
fn later_entries_replace_earlier_ones_without_following_symlinks() {
    let bed = Bed::new();
    let target = bed.outside.join("secret");
    let target = target.to_str().expect("utf8").as_bytes().to_vec();
    let tar = raw_tar(&[Raw::symlink(b"f", &target), Raw::file(b"f", b"replaced")]);
    bed.unpack(&tar, &Expect::default()).expect("unpack");
    assert_eq!(std::fs::read(bed.dest.join("f")).expect("f"), b"replaced");
    assert!(!std::fs::symlink_metadata(bed.dest.join("f")).expect("meta").file_type().is_symlink());
    assert_eq!(std::fs::read(bed.outside.join("secret")).expect("secret"), b"keep");
}

#[test]
fn hostile_dot_dot_traversal_is_rejected() {
    let bed = Bed::new();
    let tar = raw_tar(&[Raw::file(b"ok", b"1"), Raw::file(b"../outside/pwned", b"x")]);
    let e = bed.unpack(&tar, &Expect::default()).expect_err("must reject");
    assert!(matches!(e, UnpackError::Traversal { .. }), "{e}");
    bed.assert_nothing_written();
}

#[test]
fn hostile_absolute_path_is_rejected() {
    let bed = Bed::new();
    let abs = bed.outside.join("pwned");
    let tar = raw_tar(&[Raw::file(abs.to_str().expect("utf8").as_bytes(), b"x")]);
    let e = bed.unpack(&tar, &Expect::default()).expect_err("must reject");
    assert!(matches!(e, UnpackError::AbsolutePath { .. }), "{e}");
    bed.assert_nothing_written();
}

#[test]
fn hostile_write_through_symlinked_parent_is_rejected() {
    let bed = Bed::new();
    let out = bed.outside.to_str().expect("utf8").as_bytes().to_vec();
    let tar = raw_tar(&[Raw::symlink(b"escape", &out), Raw::file(b"escape/pwned", b"x")]);
    let e = bed.unpack(&tar, &Expect::default()).expect_err("must reject");
    assert!(matches!(e, UnpackError::SymlinkParent { .. }), "{e}");
    bed.assert_nothing_written();
}

#[test]
fn hostile_directory_replaced_by_a_symlink_midway_is_rejected() {
    // The parent was a real directory for the first entries (and is
    // remembered as one); the symlink that replaces it must still be seen.
    let bed = Bed::new();
    let out = bed.outside.to_str().expect("utf8").as_bytes().to_vec();
    let tar = raw_tar(&[
        Raw::dir(b"etc/"),
        Raw::file(b"etc/a", b"1"),
        Raw::symlink(b"etc", &out),
        Raw::file(b"etc/pwned", b"x"),
    ]);
    let e = bed.unpack(&tar, &Expect::default()).expect_err("must reject");
    assert!(matches!(e, UnpackError::SymlinkParent { .. }), "{e}");
    bed.assert_nothing_written();
}

#[test]
fn hostile_opaque_marker_through_symlinked_parent_is_rejected() {
    let bed = Bed::new();
    let out = bed.outside.to_str().expect("utf8").as_bytes().to_vec();
    let tar = raw_tar(&[Raw::symlink(b"escape", &out), Raw::file(b"escape/.wh..wh..opq", b"")]);
    let e = bed.unpack(&tar, &Expect::default()).expect_err("must reject");
    assert!(matches!(e, UnpackError::SymlinkParent { .. }), "{e}");
    bed.assert_nothing_written();
    assert_eq!(xattr::get(&bed.outside, OVERLAY_OPAQUE_XATTR).ok().flatten(), None);
}

#[test]
fn hostile_hardlink_to_outside_is_rejected() {
    let bed = Bed::new();
    let tar = raw_tar(&[Raw::hardlink(b"stolen", b"../outside/secret")]);
    let e = bed.unpack(&tar, &Expect::default()).expect_err("must reject");
    assert!(matches!(e, UnpackError::Traversal { .. }), "{e}");
    bed.assert_nothing_written();
    assert_eq!(std::fs::metadata(bed.outside.join("secret")).expect("meta").nlink(), 1);
}

#[test]
fn hostile_hardlink_through_symlinked_parent_is_rejected() {
    let bed = Bed::new();
    let out = bed.outside.to_str().expect("utf8").as_bytes().to_vec();
    let tar = raw_tar(&[Raw::symlink(b"escape", &out), Raw::hardlink(b"stolen", b"escape/secret")]);
    let e = bed.unpack(&tar, &Expect::default()).expect_err("must reject");
    assert!(matches!(e, UnpackError::SymlinkParent { .. }), "{e}");
    bed.assert_nothing_written();
    assert_eq!(std::fs::metadata(bed.outside.join("secret")).expect("meta").nlink(), 1);
}

#[test]
fn hostile_absolute_hardlink_target_is_rejected() {
    let bed = Bed::new();
    let abs = bed.outside.join("secret");
    let tar = raw_tar(&[Raw::hardlink(b"stolen", abs.to_str().expect("utf8").as_bytes())]);
    let e = bed.unpack(&tar, &Expect::default()).expect_err("must reject");
    assert!(matches!(e, UnpackError::AbsolutePath { .. }), "{e}");
    bed.assert_nothing_written();
}

#[test]
fn hostile_whiteout_of_dot_dot_is_rejected() {
    let bed = Bed::new();
    let tar = raw_tar(&[Raw::dir(b"a/"), Raw::file(b"a/.wh..", b"")]);
    let e = bed.unpack(&tar, &Expect::default()).expect_err("must reject");
    assert!(matches!(e, UnpackError::BadEntry { .. }), "{e}");
    bed.assert_nothing_written();
}

#[test]
fn diff_id_that_does_not_match_is_rejected() {
    let bed = Bed::new();
    let tar = raw_tar(&[Raw::file(b"f", b"data")]);
    let wrong = Digest::of(b"something else");
    let e = bed.unpack(&tar, &Expect { diff_id: Some(wrong), ..Default::default() }).expect_err("must reject");
    assert!(matches!(e, UnpackError::DigestMismatch { what, .. } if what.contains("diffID")), "{e}");
    bed.assert_nothing_written();
}

#[test]
fn compressed_digest_that_does_not_match_is_rejected() {
    let bed = Bed::new();
    let gz = gzip(&raw_tar(&[Raw::file(b"f", b"data")]));
    let wrong = Digest::of(b"other");
    let e = bed.unpack(&gz, &Expect { compressed: Some(wrong), ..Default::default() }).expect_err("must reject");
    assert!(matches!(e, UnpackError::DigestMismatch { what: "compressed", .. }), "{e}");
    bed.assert_nothing_written();
}

#[test]
fn truncated_tar_stream_is_rejected() {
    let bed = Bed::new();
    let big = vec![7u8; 10_000];
    let tar = raw_tar(&[Raw::file(b"big", &big)]);
    let cut = &tar[..512 + 4_000];
    let e = bed.unpack(cut, &Expect::default()).expect_err("must reject");
    assert!(matches!(e, UnpackError::Truncated { .. } | UnpackError::Stream(_)), "{e}");
    bed.assert_nothing_written();
}

#[test]
fn truncated_gzip_stream_is_rejected() {
    let bed = Bed::new();
    // Incompressible data so that the cut lands inside the file's bytes.
    let noise: Vec<u8> = (0u32..50_000).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let gz = gzip(&raw_tar(&[Raw::file(b"noise", &noise), Raw::file(b"after", b"x")]));
    let cut = &gz[..gz.len() / 2];
    let e = bed.unpack(cut, &Expect::default()).expect_err("must reject");
    assert!(matches!(e, UnpackError::Truncated { .. } | UnpackError::Stream(_)), "{e}");
    bed.assert_nothing_written();
}

#[test]
fn safe_relative_accepts_dot_prefixes_and_rejects_escapes() {
    assert_eq!(safe_relative(Path::new("./a/./b")).expect("ok"), Some(PathBuf::from("a/b")));
    assert_eq!(safe_relative(Path::new("./")).expect("ok"), None);
    assert!(matches!(safe_relative(Path::new("a/../../b")), Err(UnpackError::Traversal { .. })));
    assert!(matches!(safe_relative(Path::new("/etc")), Err(UnpackError::AbsolutePath { .. })));
}

#[test]
fn pax_xattrs_and_device_nodes_are_applied() {
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("SCHILY.xattr.user.berth", &b"kept"[..])]).expect("pax");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(1);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, "labelled", &b"x"[..]).expect("file");
    let mut dev = tar::Header::new_gnu();
    dev.set_entry_type(tar::EntryType::Char);
    dev.set_mode(0o666);
    dev.set_size(0);
    dev.set_uid(0);
    dev.set_gid(0);
    dev.set_mtime(0);
    dev.set_device_major(1).expect("major");
    dev.set_device_minor(3).expect("minor");
    b.append_data(&mut dev, "dev/null", &b""[..]).expect("device");
    let tar = b.into_inner().expect("tar");

    let bed = Bed::new();
    bed.unpack(&tar, &Expect::default()).expect("unpack");
    // ext4 and tmpfs both keep user.* xattrs on regular files.
    assert_eq!(xattr::get(bed.dest.join("labelled"), "user.berth").expect("getxattr").as_deref(), Some(&b"kept"[..]));
    let node = std::fs::symlink_metadata(bed.dest.join("dev/null"));
    if nix::unistd::geteuid().is_root() {
        let m = node.expect("device node created as root");
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), nix::sys::stat::makedev(1, 3));
    } else {
        assert!(node.is_err(), "without CAP_MKNOD the node is skipped, not faked");
    }
}

/// A layer holding `a/` with mode 04777 and then a symlink `a -> <a host
/// file>`: the directory's deferred mode must not be applied through the
/// link (the old code chmodded by path, and made the host file 04777).
#[test]
fn hostile_directory_mode_is_not_applied_through_a_later_symlink() {
    let bed = Bed::new();
    let secret = bed.outside.join("secret");
    let before = std::fs::metadata(&secret).expect("secret").mode() & 0o7777;
    let target = secret.to_str().expect("utf8").as_bytes().to_vec();
    let tar =
        raw_tar(&[Raw { mode: 0o4777, ..Raw::dir(b"a/") }, Raw::file(b"a/inside", b"x"), Raw::symlink(b"a", &target)]);
    match bed.unpack(&tar, &Expect::default()) {
        // Skipped cleanly: the link is there as data, the directory is gone.
        Ok(_) => {
            let m = std::fs::symlink_metadata(bed.dest.join("a")).expect("a");
            assert!(m.file_type().is_symlink(), "the later entry wins");
        }
        Err(_) => bed.assert_nothing_written(),
    }
    let after = std::fs::metadata(&secret).expect("secret").mode() & 0o7777;
    assert_eq!(after, before, "the host file's mode changed through the layer's symlink");
    assert_eq!(std::fs::read(&secret).expect("secret"), b"keep");
}

/// The same through a directory nested below the replaced one, and a
/// directory listed twice (the later entry's mode is the one kept).
#[test]
fn deferred_modes_follow_the_last_entry_and_skip_replaced_trees() {
    let bed = Bed::new();
    let out = bed.outside.to_str().expect("utf8").as_bytes().to_vec();
    let tar = raw_tar(&[
        Raw { mode: 0o700, ..Raw::dir(b"twice/") },
        Raw { mode: 0o4777, ..Raw::dir(b"p/") },
        Raw { mode: 0o4777, ..Raw::dir(b"p/q/") },
        Raw::symlink(b"p", &out),
        Raw { mode: 0o751, ..Raw::dir(b"twice/") },
    ]);
    bed.unpack(&tar, &Expect::default()).expect("unpack");
    assert_eq!(std::fs::metadata(bed.dest.join("twice")).expect("twice").mode() & 0o7777, 0o751);
    assert_eq!(std::fs::metadata(&bed.outside).expect("outside").mode() & 0o7777, 0o755, "outside dir untouched");
    assert!(!bed.outside.join("q").exists());
}

/// An extension header (GNU long name, PAX records) whose size is over the
/// limit: the layer fails at that header with the limit named, before the
/// tar crate reads it whole (the old code read the 64 MiB name, then failed
/// on its length; a 4 GiB one exhausted the engine).
#[test]
fn hostile_oversized_long_name_and_pax_records_are_rejected() {
    let huge = vec![b'a'; 64 << 20];
    for (kind, what) in [(b'L', "long name"), (b'x', "PAX records")] {
        let bed = Bed::new();
        let mut tar = raw_tar(&[Raw { kind: tar::EntryType::new(kind), ..Raw::file(b"ext", &huge) }]);
        tar.extend(raw_tar(&[Raw::file(b"f", b"x")]));
        let err = bed.unpack(&gzip(&tar), &Expect::default()).expect_err("rejected");
        assert!(err.to_string().contains(what) && err.to_string().contains("limit"), "{what}: {err}");
        bed.assert_nothing_written();
    }
}

/// A layer repeating one directory entry keeps one deferred record (the old
/// list grew by one per repeat), and one replacing many directories stays
/// linear and compacts what it dropped.
#[test]
fn repeated_directory_entries_keep_one_deferred_record() {
    let bed = Bed::new();
    std::fs::create_dir(&bed.staging).expect("staging");
    let top = Dir::open_own(&bed.staging).expect("open");
    let inode = top.stat_self().expect("stat");
    let meta = |rel: &str| DirMeta { rel: PathBuf::from(rel), inode, mode: 0o755, mtime: None };
    let mut d = Deferred::default();
    for _ in 0..10_000 {
        d.add(meta("a"));
    }
    assert_eq!(d.list.len(), 1);
    for i in 0..10_000 {
        d.add(meta(&format!("d{i}")));
        d.add(meta(&format!("d{i}/sub")));
        d.forget_under(Path::new(&format!("d{i}")));
    }
    assert_eq!(d.index.len(), 1, "only a is left");
    assert!(d.list.len() < 200, "dropped slots compacted: {}", d.list.len());
    d.forget_under(Path::new("a"));
    assert!(d.index.is_empty());
}
