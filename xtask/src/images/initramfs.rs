//! The guest's initramfs: `berth-agent` as `/init`, for kernels that need
//! them the modules the agent loads (see the agent's init module), and a
//! static busybox as the machine's toolbox (`berth machine shell`), with
//! nothing else in it. Also the cpio-and-gzip plumbing that the test
//! bed's initramfs shares.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::cache::{self, Key};
use crate::cpio::CpioWriter;
use crate::error::{IoContext, Result};

/// Where the agent looks for modules (its init::MODULE_DIR).
const MODULE_DIR: &str = "lib/modules/berth";

pub type GzCpio = CpioWriter<GzEncoder<std::io::BufWriter<std::fs::File>>>;

/// Builds (or finds) the initramfs for `agent` plus `modules`. `modules_key`
/// names where the modules came from (a kernel package version), so the
/// key does not need to hash their contents.
pub fn agent_image(agent: &Path, toolbox: &Path, modules: &[PathBuf], modules_key: &str) -> Result<PathBuf> {
    let mut key = Key::new("agent-initramfs")
        .file("agent", agent)?
        .file("toolbox", toolbox)?
        .bytes("modules-from", modules_key.as_bytes());
    for m in modules {
        key = key.bytes("module", m.to_string_lossy().as_bytes());
    }
    let dir = cache::entry("initramfs", &key.finish(), |out| {
        write_cpio_gz(&out.join("initramfs.cpio.gz"), |cpio| {
            for d in ["dev", "proc", "sys", "run"] {
                cpio.dir(d, 0o755)?;
            }
            cpio.dir("tmp", 0o1777)?;
            add_console(cpio)?;
            cpio.file("init", 0o755, &std::fs::read(agent)?)?;
            add_toolbox(cpio, toolbox)?;
            add_modules(cpio, MODULE_DIR, modules)
        })
    })?;
    Ok(dir.join("initramfs.cpio.gz"))
}

/// Writes a gzip'd newc archive that `fill` populates.
pub fn write_cpio_gz(path: &Path, fill: impl FnOnce(&mut GzCpio) -> std::io::Result<()>) -> Result<()> {
    let file = std::fs::File::create(path).at(path)?;
    // Fast compression: these images are rebuilt often and the kernel
    // decompresses level 1 as quickly as level 9.
    let mut cpio = CpioWriter::new(GzEncoder::new(std::io::BufWriter::new(file), Compression::fast()));
    fill(&mut cpio).at(path)?;
    let mut w = cpio.finish().at(path)?.finish().at(path)?;
    w.flush().at(path)?;
    w.get_ref().sync_all().at(path)
}

/// The kernel opens /dev/console for init's stdio before devtmpfs exists;
/// the caller has created `dev`.
pub fn add_console<W: Write>(cpio: &mut CpioWriter<W>) -> std::io::Result<()> {
    cpio.char_device("dev/console", 0o600, 5, 1)
}

/// A static busybox at /bin/busybox with a link for each of its applets
/// where it would install them, so the machine's shell has the usual tools.
/// Costs about 1 MB of the compressed image and nothing until it is used.
pub fn add_toolbox<W: Write>(cpio: &mut CpioWriter<W>, busybox: &Path) -> std::io::Result<()> {
    let list = std::process::Command::new(busybox).arg("--list-full").output()?;
    if !list.status.success() {
        return Err(std::io::Error::other(format!("{} --list-full failed", busybox.display())));
    }
    for d in ["bin", "sbin", "usr", "usr/bin", "usr/sbin"] {
        cpio.dir(d, 0o755)?;
    }
    cpio.file("bin/busybox", 0o755, &std::fs::read(busybox)?)?;
    for applet in String::from_utf8_lossy(&list.stdout).lines().map(str::trim) {
        // `init`/`linuxrc` would shadow nothing (the kernel runs /init), but
        // they are no use in a machine whose PID 1 is the agent.
        if applet.is_empty() || applet == "bin/busybox" || applet.ends_with("/init") || applet == "linuxrc" {
            continue;
        }
        cpio.symlink(applet, "/bin/busybox")?;
    }
    Ok(())
}

/// Puts `modules` in `dir` with a `load-order` file, dependencies first.
pub fn add_modules<W: Write>(cpio: &mut CpioWriter<W>, dir: &str, modules: &[PathBuf]) -> std::io::Result<()> {
    if modules.is_empty() {
        return Ok(());
    }
    let mut prefix = String::new();
    for part in dir.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        cpio.dir(&prefix, 0o755)?;
    }
    let mut order = String::new();
    for m in modules {
        let name = m.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        cpio.file(&format!("{dir}/{name}"), 0o644, &std::fs::read(m)?)?;
        order.push_str(name);
        order.push('\n');
    }
    cpio.file(&format!("{dir}/load-order"), 0o644, order.as_bytes())
}
