//! Copy-up into a volume from a planted root: symlinks are copied as links
//! (never followed out of the image or into the host), owners and modes
//! kept, a non-empty volume left alone.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::Bed;
use crate::confined::{Root, copy_up};

#[test]
fn copies_links_as_links_and_keeps_metadata() {
    let bed = Bed::new();
    let data = bed.root.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("sub/f"), "content").unwrap();
    std::fs::set_permissions(data.join("sub/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("/etc", data.join("out")).unwrap();
    std::os::unix::fs::symlink(bed.host.path().join("canary"), data.join("canary")).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o751)).unwrap();
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::chown(data.join("sub/f"), Some(1234), Some(5678)).unwrap();
    }
    // The destination through an in-root symlink, as the container sees it.
    std::os::unix::fs::symlink("/data", bed.root.join("alias")).unwrap();
    let vol = bed.host.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    let root = Root::open(&bed.root).unwrap();
    assert!(copy_up(&root, Path::new("/alias"), &vol).unwrap());
    assert_eq!(std::fs::read_to_string(vol.join("sub/f")).unwrap(), "content");
    let md = std::fs::metadata(vol.join("sub/f")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o640);
    if nix::unistd::geteuid().is_root() {
        assert_eq!((md.uid(), md.gid()), (1234, 5678));
    }
    assert_eq!(std::fs::metadata(&vol).unwrap().mode() & 0o7777, 0o751, "the volume takes the directory's mode");
    assert_eq!(std::fs::read_link(vol.join("out")).unwrap(), Path::new("/etc"));
    assert!(std::fs::symlink_metadata(vol.join("canary")).unwrap().file_type().is_symlink());
    assert!(!vol.join("passwd").exists());
    // Not empty any more: a second copy-up leaves it alone.
    std::fs::write(vol.join("mine"), "x").unwrap();
    std::fs::remove_file(vol.join("sub/f")).unwrap();
    assert!(!copy_up(&root, Path::new("/data"), &vol).unwrap());
    assert!(!vol.join("sub/f").exists());
}

#[test]
fn nothing_there_or_a_file_copies_nothing() {
    let bed = Bed::new();
    let vol = bed.host.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    let root = Root::open(&bed.root).unwrap();
    assert!(!copy_up(&root, Path::new("/nope"), &vol).unwrap());
    assert!(!copy_up(&root, Path::new("/etc/passwd"), &vol).unwrap());
    // A destination whose symlink climbs out resolves inside the root.
    assert!(copy_up(&root, Path::new("/up"), &vol).unwrap());
    assert_eq!(std::fs::read_to_string(vol.join("passwd")).unwrap(), "inside");
}
