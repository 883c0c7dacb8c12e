//! What the user asked for: the VM's shape, as data.
//!
//! Owns `VmConfig` (read from JSON with serde, or built from command-line
//! flags) and its validation. Everything that can be checked before KVM is
//! touched is checked here, so a typo ends the run with one clear line
//! instead of a half-built VM. It must never open `/dev/kvm` or allocate
//! guest memory: the builder does that, from a config that passed
//! [`VmConfig::validate`].

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::seccomp::SeccompMode;

/// The fewest MiB a Linux guest with an initramfs can boot in; below this
/// the kernel's early allocations fail in ways that look like hangs.
pub const MIN_MEMORY_MIB: u64 = 32;
/// Enough for any micro-VM berth makes; above this a typo is likelier than
/// intent (and the host may overcommit into the OOM killer).
pub const MAX_MEMORY_MIB: u64 = 1024 * 1024;
/// The most vCPUs whose MP table entries fit in the 1 KiB EBDA where the
/// guest looks for them (Firecracker has the same limit).
pub const MAX_VCPUS: u8 = 32;
/// Longest command line the x86 boot protocol lets us hand over.
pub const MAX_CMDLINE_LEN: usize = 4096;
/// The command line used when none is given: a serial console, keyboard
/// controller reset (the guest has no ACPI), and a panic that reboots at
/// once so the VMM can report it.
pub const DEFAULT_CMDLINE: &str = "console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux i8042.dumbkbd pci=off";
/// vsock CIDs 0-2 are reserved (hypervisor, local, host).
pub const MIN_GUEST_CID: u64 = 3;

/// Where the guest's serial console goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase", tag = "kind", content = "path")]
pub enum SerialOutput {
    /// The VMM's standard output.
    #[default]
    Stdout,
    /// Appended to a file (created if missing).
    File(PathBuf),
    /// Discarded; the VMM still watches it for a kernel panic.
    None,
}

impl SerialOutput {
    /// Parses the `--serial` flag: `stdout`, `none`, or `file:PATH`.
    pub fn parse_flag(s: &str) -> Result<Self, String> {
        match s {
            "stdout" => Ok(SerialOutput::Stdout),
            "none" | "off" => Ok(SerialOutput::None),
            _ => match s.strip_prefix("file:") {
                Some(p) if !p.is_empty() => Ok(SerialOutput::File(PathBuf::from(p))),
                _ => Err(format!("expected stdout, none or file:PATH, got {s:?}")),
            },
        }
    }
}

/// A raw disk image exposed as a virtio-blk device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub read_only: bool,
}

impl DiskConfig {
    /// Parses the `--disk` flag: `PATH` or `PATH,ro`.
    pub fn parse_flag(s: &str) -> Result<Self, String> {
        let (path, read_only) = match s.rsplit_once(',') {
            Some((p, "ro")) => (p, true),
            Some((p, "rw")) => (p, false),
            _ => (s, false),
        };
        if path.is_empty() {
            return Err("empty disk path".into());
        }
        Ok(DiskConfig { path: PathBuf::from(path), read_only })
    }
}

/// The vsock device: the guest's CID and the host UNIX socket that stands
/// in for the host end (Firecracker's hybrid vsock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VsockConfig {
    pub guest_cid: u64,
    pub uds_path: PathBuf,
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum NetConfig {
    /// An existing (or creatable) TAP interface on the host.
    Tap {
        name: String,
        #[serde(default)]
        mac: Option<String>,
    },
    /// A passt instance (unprivileged userspace networking) listening on a
    /// UNIX socket.
    Passt {
        socket: PathBuf,
        #[serde(default)]
        mac: Option<String>,
    },
}

impl NetConfig {
    pub fn mac(&self) -> Option<&str> {
        match self {
            NetConfig::Tap { mac, .. } | NetConfig::Passt { mac, .. } => mac.as_deref(),
        }
    }
}

/// The longest virtio-fs tag: the config space's `tag` field.
pub const MAX_FS_TAG_LEN: usize = 36;
/// Queue size offered to a virtio-fs driver unless the config says
/// otherwise: deep enough that a burst of small metadata requests (an
/// unpack, a `find`) never waits for a free descriptor.
pub const DEFAULT_FS_QUEUE_SIZE: u16 = 1024;

/// A host folder shared over virtio-fs: the guest mounts `tag`; the files
/// are served by a vhost-user backend (virtiofsd) listening on `socket`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsConfig {
    pub tag: String,
    pub socket: PathBuf,
    #[serde(default = "default_fs_queue_size")]
    pub queue_size: u16,
}

fn default_fs_queue_size() -> u16 {
    DEFAULT_FS_QUEUE_SIZE
}

impl FsConfig {
    /// Parses the `--fs` flag: `TAG:SOCKET`.
    pub fn parse_flag(s: &str) -> Result<Self, String> {
        let (tag, socket) = s.split_once(':').ok_or("expected TAG:SOCKET")?;
        if socket.is_empty() {
            return Err("empty socket path".into());
        }
        Ok(FsConfig { tag: tag.into(), socket: socket.into(), queue_size: DEFAULT_FS_QUEUE_SIZE })
    }
}

/// Whether the guest is described with ACPI tables.
///
/// berth's kernel has no ACPI and learns its virtio-mmio devices from
/// `virtio_mmio.device=` on the command line (the fast path); Debian's
/// stock kernel has no command-line devices and learns them only from the
/// DSDT. `auto` serves both: tables are written unless the command line
/// says `acpi=off`, and the command-line entries are always added (a kernel
/// with both mechanisms sees each device twice and the second claim fails
/// harmlessly; `on` avoids that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AcpiMode {
    #[default]
    Auto,
    /// ACPI tables only: no `virtio_mmio.device=` entries.
    On,
    /// Command-line devices and an MP table only.
    Off,
}

impl AcpiMode {
    pub fn parse_flag(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(AcpiMode::Auto),
            "on" => Ok(AcpiMode::On),
            "off" => Ok(AcpiMode::Off),
            _ => Err(format!("expected auto, on or off, got {s:?}")),
        }
    }

    /// Whether ACPI tables are written for a guest with `cmdline`.
    pub fn writes_tables(self, cmdline: &str) -> bool {
        match self {
            AcpiMode::On => true,
            AcpiMode::Off => false,
            AcpiMode::Auto => !cmdline.split_ascii_whitespace().any(|w| w == "acpi=off"),
        }
    }

    /// Whether virtio-mmio devices are announced on the command line.
    pub fn announces_on_cmdline(self) -> bool {
        self != AcpiMode::On
    }
}

/// One micro-VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmConfig {
    #[serde(default = "default_vcpus")]
    pub vcpus: u8,
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
    pub kernel: PathBuf,
    #[serde(default)]
    pub initramfs: Option<PathBuf>,
    #[serde(default = "default_cmdline")]
    pub cmdline: String,
    #[serde(default)]
    pub serial: SerialOutput,
    #[serde(default)]
    pub disks: Vec<DiskConfig>,
    #[serde(default)]
    pub vsock: Option<VsockConfig>,
    #[serde(default)]
    pub net: Vec<NetConfig>,
    #[serde(default)]
    pub rng: bool,
    /// Host folders over virtio-fs; any makes guest RAM shared memory.
    #[serde(default)]
    pub fs: Vec<FsConfig>,
    #[serde(default)]
    pub seccomp: SeccompMode,
    #[serde(default)]
    pub acpi: AcpiMode,
    /// The kernel's `System.map`, for naming RIP in a crash report. Unset:
    /// `System.map-<suffix>` beside a `vmlinuz-<suffix>`, else `System.map`
    /// beside the kernel, else the kernel ELF's own symbols. Read only
    /// after a crash, never checked at start.
    #[serde(default)]
    pub system_map: Option<PathBuf>,
}

fn default_vcpus() -> u8 {
    1
}
fn default_memory_mib() -> u64 {
    256
}
fn default_cmdline() -> String {
    DEFAULT_CMDLINE.to_string()
}

/// Why a config cannot describe a VM we can boot.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error("config {path} is not valid: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("vcpus must be between 1 and {MAX_VCPUS}, got {0}")]
    Vcpus(u8),
    #[error("memory must be between {MIN_MEMORY_MIB} MiB and {MAX_MEMORY_MIB} MiB, got {0} MiB")]
    Memory(u64),
    #[error("{what} {path}: {source}")]
    Open { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{what} {path} is not a regular file")]
    NotAFile { what: &'static str, path: PathBuf },
    #[error("kernel {0} is neither an ELF vmlinux nor a bzImage")]
    NotAKernel(PathBuf),
    #[error("kernel command line is {0} bytes, the limit is {MAX_CMDLINE_LEN}")]
    CmdlineTooLong(usize),
    #[error("kernel command line contains a NUL byte or a newline")]
    CmdlineBadChar,
    #[error("vsock guest CID must be at least {MIN_GUEST_CID} (0-2 are reserved), got {0}")]
    GuestCid(u64),
    #[error("vsock socket path {0} is not valid: it needs a parent directory that exists")]
    VsockPath(PathBuf),
    #[error("TAP name {0:?} is not valid: 1 to 15 bytes, no '/' or whitespace")]
    TapName(String),
    #[error("MAC address {0:?} is not valid: expected six hex bytes like 02:00:00:00:00:01")]
    Mac(String),
    #[error("{0} is not a UNIX socket (is passt listening there?)")]
    NotASocket(PathBuf),
    #[error("two disks use the same image {0}")]
    DuplicateDisk(PathBuf),
    #[error("virtio-fs tag {0:?} is not valid: 1 to {MAX_FS_TAG_LEN} bytes, no NUL")]
    FsTag(String),
    #[error("two virtio-fs shares use the tag {0:?}")]
    DuplicateFsTag(String),
    #[error("virtio-fs queue size {0} is not valid: a power of two from 2 to 32768")]
    FsQueueSize(u16),
}

/// The two kernel image formats the loader understands, told apart by magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelFormat {
    /// An ELF `vmlinux` (PVH entry if the note is there).
    Elf,
    /// A compressed `bzImage` with the x86 boot protocol's setup header.
    BzImage,
}

impl KernelFormat {
    /// Reads the first bytes of a kernel image to see what it is. Only the
    /// magic numbers are checked here; the loader checks the rest.
    pub fn sniff(file: &mut File) -> std::io::Result<Option<Self>> {
        let mut head = [0u8; 0x206];
        let mut filled = 0;
        while filled < head.len() {
            let n = file.read(&mut head[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled >= 4 && head[..4] == *b"\x7fELF" {
            return Ok(Some(KernelFormat::Elf));
        }
        // The setup header's "HdrS" magic sits at 0x202 in a bzImage.
        if filled >= 0x206 && head[0x202..0x206] == *b"HdrS" {
            return Ok(Some(KernelFormat::BzImage));
        }
        Ok(None)
    }
}

impl VmConfig {
    /// Reads a JSON config file.
    pub fn from_json_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile { path: path.to_owned(), source })?;
        serde_json::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source })
    }

    /// A config with defaults for everything but the kernel.
    pub fn with_kernel(kernel: PathBuf) -> Self {
        VmConfig {
            vcpus: default_vcpus(),
            memory_mib: default_memory_mib(),
            kernel,
            initramfs: None,
            cmdline: default_cmdline(),
            serial: SerialOutput::default(),
            disks: Vec::new(),
            vsock: None,
            net: Vec::new(),
            rng: false,
            fs: Vec::new(),
            seccomp: SeccompMode::default(),
            acpi: AcpiMode::default(),
            system_map: None,
        }
    }

    /// Checks everything that can be checked without KVM: ranges, that the
    /// files exist and are readable, that the kernel looks like a kernel.
    /// Returns the kernel's format so the builder need not sniff again.
    pub fn validate(&self) -> Result<KernelFormat, ConfigError> {
        if self.vcpus == 0 || self.vcpus > MAX_VCPUS {
            return Err(ConfigError::Vcpus(self.vcpus));
        }
        if !(MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&self.memory_mib) {
            return Err(ConfigError::Memory(self.memory_mib));
        }
        if self.cmdline.len() >= MAX_CMDLINE_LEN {
            return Err(ConfigError::CmdlineTooLong(self.cmdline.len()));
        }
        if self.cmdline.bytes().any(|b| b == 0 || b == b'\n') {
            return Err(ConfigError::CmdlineBadChar);
        }
        let mut kernel = open_regular("kernel", &self.kernel)?;
        let format = KernelFormat::sniff(&mut kernel)
            .map_err(|source| ConfigError::Open { what: "kernel", path: self.kernel.clone(), source })?
            .ok_or_else(|| ConfigError::NotAKernel(self.kernel.clone()))?;
        if let Some(initramfs) = &self.initramfs {
            open_regular("initramfs", initramfs)?;
        }
        for (i, disk) in self.disks.iter().enumerate() {
            open_regular("disk", &disk.path)?;
            if self.disks[..i].iter().any(|d| d.path == disk.path) {
                return Err(ConfigError::DuplicateDisk(disk.path.clone()));
            }
        }
        if let Some(vsock) = &self.vsock {
            if vsock.guest_cid < MIN_GUEST_CID || vsock.guest_cid > u64::from(u32::MAX) {
                return Err(ConfigError::GuestCid(vsock.guest_cid));
            }
            let parent_ok = match vsock.uds_path.parent() {
                Some(p) if p.as_os_str().is_empty() => true,
                Some(p) => p.is_dir(),
                None => false,
            };
            if !parent_ok || vsock.uds_path.file_name().is_none() {
                return Err(ConfigError::VsockPath(vsock.uds_path.clone()));
            }
        }
        for net in &self.net {
            match net {
                NetConfig::Tap { name, .. } => {
                    let bad_byte = |b: u8| b == b'/' || b.is_ascii_whitespace() || b == 0;
                    if name.is_empty() || name.len() > 15 || name.bytes().any(bad_byte) {
                        return Err(ConfigError::TapName(name.clone()));
                    }
                }
                NetConfig::Passt { socket, .. } => expect_socket("passt socket", socket)?,
            }
            if let Some(mac) = net.mac() {
                parse_mac(mac).ok_or_else(|| ConfigError::Mac(mac.to_owned()))?;
            }
        }
        for (i, fs) in self.fs.iter().enumerate() {
            if fs.tag.is_empty() || fs.tag.len() > MAX_FS_TAG_LEN || fs.tag.contains('\0') {
                return Err(ConfigError::FsTag(fs.tag.clone()));
            }
            if self.fs[..i].iter().any(|f| f.tag == fs.tag) {
                return Err(ConfigError::DuplicateFsTag(fs.tag.clone()));
            }
            if !fs.queue_size.is_power_of_two() || fs.queue_size < 2 || fs.queue_size > 32768 {
                return Err(ConfigError::FsQueueSize(fs.queue_size));
            }
            expect_socket("virtiofsd socket", &fs.socket)?;
        }
        Ok(format)
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in mac.iter_mut() {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Checks that `path` is a UNIX socket (something listens there).
fn expect_socket(what: &'static str, path: &Path) -> Result<(), ConfigError> {
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::Open { what, path: path.to_owned(), source })?;
    if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
        return Err(ConfigError::NotASocket(path.to_owned()));
    }
    Ok(())
}

fn open_regular(what: &'static str, path: &Path) -> Result<File, ConfigError> {
    let file = File::open(path).map_err(|source| ConfigError::Open { what, path: path.to_owned(), source })?;
    let meta = file.metadata().map_err(|source| ConfigError::Open { what, path: path.to_owned(), source })?;
    if !meta.is_file() {
        return Err(ConfigError::NotAFile { what, path: path.to_owned() });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    fn elf_kernel() -> tempfile::NamedTempFile {
        let mut bytes = b"\x7fELF".to_vec();
        bytes.resize(64, 0);
        file_with(&bytes)
    }

    #[test]
    fn sniffs_elf_and_bzimage_and_rejects_the_rest() {
        let mut elf = elf_kernel().reopen().unwrap();
        assert_eq!(KernelFormat::sniff(&mut elf).unwrap(), Some(KernelFormat::Elf));
        let mut bz = vec![0u8; 0x300];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        let mut bz = file_with(&bz).reopen().unwrap();
        assert_eq!(KernelFormat::sniff(&mut bz).unwrap(), Some(KernelFormat::BzImage));
        let mut text = file_with(b"#!/bin/sh\necho not a kernel\n").reopen().unwrap();
        assert_eq!(KernelFormat::sniff(&mut text).unwrap(), None);
    }

    #[test]
    fn validation_names_the_problem() {
        let k = elf_kernel();
        let mut c = VmConfig::with_kernel(k.path().to_owned());
        assert_eq!(c.validate().unwrap(), KernelFormat::Elf);

        c.memory_mib = 8;
        assert!(matches!(c.validate(), Err(ConfigError::Memory(8))));
        c.memory_mib = 128;
        c.vcpus = 0;
        assert!(matches!(c.validate(), Err(ConfigError::Vcpus(0))));
        c.vcpus = 2;

        let not_kernel = file_with(b"hello");
        c.kernel = not_kernel.path().to_owned();
        let err = c.validate().unwrap_err();
        assert!(matches!(err, ConfigError::NotAKernel(_)), "{err}");
        c.kernel = PathBuf::from("/nonexistent/vmlinux");
        let err = c.validate().unwrap_err().to_string();
        assert!(err.starts_with("kernel /nonexistent/vmlinux:"), "{err}");
        c.kernel = std::env::temp_dir();
        assert!(matches!(c.validate(), Err(ConfigError::NotAFile { .. })));
        c.kernel = k.path().to_owned();

        c.vsock = Some(VsockConfig { guest_cid: 2, uds_path: "/tmp/v.sock".into() });
        assert!(matches!(c.validate(), Err(ConfigError::GuestCid(2))));
        c.vsock = Some(VsockConfig { guest_cid: 3, uds_path: "/nonexistent-dir/v.sock".into() });
        assert!(matches!(c.validate(), Err(ConfigError::VsockPath(_))));
        c.vsock = None;

        c.cmdline = "console=ttyS0\ninit=/x".into();
        assert!(matches!(c.validate(), Err(ConfigError::CmdlineBadChar)));
        c.cmdline = "x".repeat(MAX_CMDLINE_LEN);
        assert!(matches!(c.validate(), Err(ConfigError::CmdlineTooLong(_))));
        c.cmdline = DEFAULT_CMDLINE.into();

        c.net = vec![NetConfig::Tap { name: "tap0".into(), mac: Some("02:00:00:00:00:zz".into()) }];
        assert!(matches!(c.validate(), Err(ConfigError::Mac(_))));
        c.net = vec![NetConfig::Tap { name: "a-very-long-tap-name".into(), mac: None }];
        assert!(matches!(c.validate(), Err(ConfigError::TapName(_))));
        c.net = vec![NetConfig::Passt { socket: k.path().to_owned(), mac: None }];
        assert!(matches!(c.validate(), Err(ConfigError::NotASocket(_))));
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("passt.socket");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        c.net = vec![NetConfig::Passt { socket: sock.clone(), mac: Some("02:00:00:00:00:01".into()) }];
        assert_eq!(c.validate().unwrap(), KernelFormat::Elf);
        c.net.clear();

        let share = |tag: &str| FsConfig { tag: tag.into(), socket: sock.clone(), queue_size: DEFAULT_FS_QUEUE_SIZE };
        c.fs = vec![share("home"), share("src")];
        assert_eq!(c.validate().unwrap(), KernelFormat::Elf);
        c.fs = vec![share(&"t".repeat(MAX_FS_TAG_LEN + 1))];
        assert!(matches!(c.validate(), Err(ConfigError::FsTag(_))));
        c.fs = vec![share("")];
        assert!(matches!(c.validate(), Err(ConfigError::FsTag(_))));
        c.fs = vec![share("a"), share("a")];
        assert!(matches!(c.validate(), Err(ConfigError::DuplicateFsTag(_))));
        c.fs = vec![FsConfig { queue_size: 1000, ..share("a") }];
        assert!(matches!(c.validate(), Err(ConfigError::FsQueueSize(1000))));
        c.fs = vec![FsConfig { socket: k.path().to_owned(), ..share("a") }];
        assert!(matches!(c.validate(), Err(ConfigError::NotASocket(_))));
    }

    #[test]
    fn json_round_trip_with_defaults() {
        let json = r#"{"kernel": "/k", "memory_mib": 512, "serial": {"kind": "file", "path": "/tmp/s"},
                       "disks": [{"path": "/d.img", "read_only": true}],
                       "vsock": {"guest_cid": 3, "uds_path": "/tmp/v.sock"}}"#;
        let c: VmConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.vcpus, 1);
        assert_eq!(c.memory_mib, 512);
        assert_eq!(c.cmdline, DEFAULT_CMDLINE);
        assert_eq!(c.serial, SerialOutput::File("/tmp/s".into()));
        assert!(c.disks[0].read_only);
        let back: VmConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let err = serde_json::from_str::<VmConfig>(r#"{"kernel": "/k", "memroy_mib": 1}"#).unwrap_err();
        assert!(err.to_string().contains("memroy_mib"));
    }

    #[test]
    fn flag_parsers() {
        assert_eq!(SerialOutput::parse_flag("file:/x").unwrap(), SerialOutput::File("/x".into()));
        assert_eq!(SerialOutput::parse_flag("none").unwrap(), SerialOutput::None);
        assert!(SerialOutput::parse_flag("file:").is_err());
        assert_eq!(DiskConfig::parse_flag("/a.img,ro").unwrap(), DiskConfig { path: "/a.img".into(), read_only: true });
        assert_eq!(DiskConfig::parse_flag("/a,b.img").unwrap().path, PathBuf::from("/a,b.img"));
        assert_eq!(parse_mac("02:00:00:0a:0B:ff"), Some([2, 0, 0, 10, 11, 255]));
        assert_eq!(parse_mac("02:00:00:0a:0B"), None);
        assert_eq!(parse_mac("02:00:00:0a:0B:ff:00"), None);
        assert_eq!(FsConfig::parse_flag("home:/run/v.sock").unwrap().socket, PathBuf::from("/run/v.sock"));
        assert!(FsConfig::parse_flag("home").is_err());
        assert!(FsConfig::parse_flag("home:").is_err());
    }
}
