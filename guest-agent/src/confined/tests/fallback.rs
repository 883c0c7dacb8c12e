//! The resolver without openat2 (as on kernels before 5.6, or under a
//! seccomp profile that filters it): a child test process loads a filter
//! that fails openat2 with ENOSYS, proves the syscall is gone, and runs the
//! same confinement checks, which pathrs then answers with its O_PATH walk.
//! Also the magic-link case, which needs a procfs inside the root: the
//! child mounts one there in a mount namespace of its own.

use std::path::Path;
use std::process::Command;

use super::*;

const CHILD: &str = "BERTH_CONFINED_CHILD";

/// Runs the ignored test `name` of this binary in a child process.
fn run_child(name: &str, mode: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([name, "--exact", "--include-ignored", "--test-threads=1", "--nocapture"])
        .env(CHILD, mode)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in a child:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// openat2 as the kernel answers it now.
fn openat2_errno() -> Option<i32> {
    // open_how is non-exhaustive in libc: flags, mode, resolve as u64s.
    let how: [u64; 3] = [libc::O_PATH as u64, 0, 0];
    // SAFETY: openat2 reads a NUL-terminated path and the 24 bytes of a live
    // local laid out as `struct open_how`; a returned fd is closed at once.
    let r = unsafe {
        libc::syscall(libc::SYS_openat2, libc::AT_FDCWD, c"/".as_ptr(), how.as_ptr(), std::mem::size_of_val(&how))
    };
    if r >= 0 {
        // SAFETY: `r` is a descriptor just returned to us and owned by nobody else.
        unsafe { libc::close(r as libc::c_int) };
        return None;
    }
    std::io::Error::last_os_error().raw_os_error()
}

#[test]
fn without_openat2_the_fallback_is_as_confined() {
    assert_eq!(openat2_errno(), None, "this kernel has openat2: the filter below is what removes it");
    run_child("confined::tests::fallback::child_without_openat2", "no-openat2");
}

#[test]
#[ignore = "run by without_openat2_the_fallback_is_as_confined, under its seccomp filter"]
fn child_without_openat2() {
    assert_eq!(std::env::var(CHILD).as_deref(), Ok("no-openat2"), "only as a child");
    use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
    let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).unwrap();
    ctx.add_rule(ScmpAction::Errno(libc::ENOSYS), ScmpSyscall::from_name("openat2").unwrap()).unwrap();
    ctx.load().unwrap();
    assert_eq!(openat2_errno(), Some(libc::ENOSYS));
    check_resolution(&Bed::new());
    // Extraction and archiving on the fallback too.
    let bed = Bed::new();
    let root = bed.open();
    std::os::unix::fs::symlink(bed.host.path(), bed.root.join("tmp/out")).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    b.append_data(&mut h, "out/evil", &b"x"[..]).unwrap();
    let t = b.into_inner().unwrap();
    extract(&root, Path::new("/tmp"), &t[..], ExtractOptions::default()).unwrap();
    bed.assert_host_untouched();
    let mut b = tar::Builder::new(Vec::new());
    append_root(&root, &mut b).unwrap();
}

#[test]
fn magic_links_are_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: mounting a procfs in the root needs root");
        return;
    }
    run_child("confined::tests::fallback::child_with_procfs_in_the_root", "procfs");
}

#[test]
#[ignore = "run by magic_links_are_refused, in a mount namespace of its own"]
fn child_with_procfs_in_the_root() {
    assert_eq!(std::env::var(CHILD).as_deref(), Ok("procfs"), "only as a child");
    use nix::mount::{MsFlags, mount};
    // SAFETY: unshare takes flags only; this test thread gets its own
    // mount namespace (and fs struct), which dies with the child process.
    assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNS) }, 0, "{}", std::io::Error::last_os_error());
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>).unwrap();
    let bed = Bed::new();
    std::fs::create_dir(bed.root.join("proc")).unwrap();
    mount(Some("proc"), &bed.root.join("proc"), Some("proc"), MsFlags::empty(), None::<&str>).unwrap();
    let root = bed.open();
    // /proc/self/root is a magic link to the engine's own root: refused,
    // directly and through the planted /magic -> /proc/self/root.
    for p in ["/proc/self/root", "/proc/self/root/etc/hostname", "/magic", "/magic/etc/passwd", "/proc/self/cwd"] {
        match root.resolve(Path::new(p)) {
            Err(e) => assert!(matches!(e.errno(), Some(libc::ELOOP | libc::EXDEV)), "{p}: {e}"),
            Ok(n) => panic!("{p} resolved to {:?}", root.container_path(&n)),
        }
    }
    // A PUT through it is refused too, and writes nothing on the host.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    b.append_data(&mut h, "escaped", &b"x"[..]).unwrap();
    let t = b.into_inner().unwrap();
    let dest = format!("/magic{}", bed.host.path().display());
    assert!(extract(&root, Path::new(&dest), &t[..], ExtractOptions::default()).is_err());
    let _ = nix::mount::umount(&bed.root.join("proc"));
    bed.assert_host_untouched();
}
