//! Puts the kernel, initramfs and command line into guest memory.
//!
//! Owns the choice of entry protocol: an ELF vmlinux with a PVH note is
//! entered through PVH (berth's own kernel), an ELF without one through the
//! 64-bit Linux boot protocol, and a bzImage (Debian's stock kernel) through
//! the 64-bit Linux boot protocol at its 64-bit entry. The parsing itself is
//! linux-loader's; this module adds the placement rules and turns its
//! errors into ones a user can act on. It never touches KVM.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use linux_loader::cmdline::Cmdline;
use linux_loader::loader::bootparam::setup_header;
use linux_loader::loader::elf::PvhBootCapability;
use linux_loader::loader::{BzImage, Elf, KernelLoader, load_cmdline};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

use crate::arch::x86_64::boot_params::InitramfsPlacement;
use crate::arch::x86_64::layout::{CMDLINE_START, HIMEM_START, MMIO_GAP_START};
use crate::arch::x86_64::regs::EntryPoint;
use crate::config::{KernelFormat, MAX_CMDLINE_LEN};

/// The 64-bit entry of a bzImage's protected-mode kernel is 0x200 bytes in.
const BZIMAGE_64BIT_ENTRY_OFFSET: u64 = 0x200;
const PAGE_SIZE: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    #[error("cannot open {what} {path}: {source}")]
    Open { what: &'static str, path: String, source: std::io::Error },
    #[error(
        "kernel {path} could not be loaded ({source}); is it an x86_64 kernel, and does it fit in {mem_mib} MiB of guest memory?"
    )]
    Kernel { path: String, mem_mib: u64, source: linux_loader::loader::Error },
    #[error("initramfs {path} ({size} bytes) does not fit in guest memory above the kernel; give the VM more memory")]
    InitramfsTooLarge { path: String, size: u64 },
    #[error("reading initramfs {path}: {source}")]
    ReadInitramfs { path: String, source: std::io::Error },
    #[error("the initramfs loader thread failed: {0}")]
    LoaderThread(String),
    #[error("kernel command line is not valid: {0}")]
    Cmdline(#[from] linux_loader::cmdline::Error),
    #[error("writing the kernel command line: {0}")]
    WriteCmdline(linux_loader::loader::Error),
}

/// What loading the kernel decided.
#[derive(Debug, Clone, Copy)]
pub struct LoadedKernel {
    pub entry: EntryPoint,
    /// A bzImage's setup header, to be copied into the zero page.
    pub setup_header: Option<setup_header>,
    /// First guest address past the kernel image.
    pub end: u64,
}

/// Loads the kernel at `path` in `format` into `mem`.
pub fn load_kernel(mem: &GuestMemoryMmap, path: &Path, format: KernelFormat) -> Result<LoadedKernel, LoaderError> {
    let mut file = File::open(path).map_err(|source| LoaderError::Open {
        what: "kernel",
        path: path.display().to_string(),
        source,
    })?;
    let mem_mib = mem.iter().map(GuestMemoryRegion::len).sum::<u64>() >> 20;
    let err = |source| LoaderError::Kernel { path: path.display().to_string(), mem_mib, source };
    match format {
        KernelFormat::Elf => {
            let result = Elf::load(mem, None, &mut file, Some(GuestAddress(HIMEM_START))).map_err(err)?;
            let entry = match result.pvh_boot_cap {
                PvhBootCapability::PvhEntryPresent(addr) => EntryPoint::Pvh { entry: addr.0 },
                _ => EntryPoint::Linux64 { entry: result.kernel_load.0 },
            };
            Ok(LoadedKernel { entry, setup_header: None, end: result.kernel_end })
        }
        KernelFormat::BzImage => {
            let result = BzImage::load(mem, None, &mut file, Some(GuestAddress(HIMEM_START))).map_err(err)?;
            Ok(LoadedKernel {
                entry: EntryPoint::Linux64 { entry: result.kernel_load.0 + BZIMAGE_64BIT_ENTRY_OFFSET },
                setup_header: result.setup_header,
                end: result.kernel_end,
            })
        }
    }
}

/// Loads the kernel and, at the same time on a second thread, the
/// initramfs: the two copies into guest memory are the largest part of
/// what happens before the guest's first instruction (tens of MiB), and
/// they touch disjoint guest memory. The initramfs goes as high in low
/// memory as it fits, which is where [`load_initramfs`] would put it; it
/// is then checked against the kernel's end, and an overlap is the same
/// clear error as loading the two one after the other.
pub fn load_kernel_and_initramfs(
    mem: &GuestMemoryMmap,
    kernel: &Path,
    format: KernelFormat,
    initramfs: Option<&Path>,
) -> Result<(LoadedKernel, Option<InitramfsPlacement>), LoaderError> {
    std::thread::scope(|scope| {
        let initramfs_job = initramfs.map(|path| {
            let job = std::thread::Builder::new().name("load-initramfs".into()).spawn_scoped(scope, move || {
                let placed = load_initramfs(mem, path, 0);
                crate::timeline::mark("load: initramfs in guest memory");
                placed
            });
            (path, job)
        });
        let kernel = load_kernel(mem, kernel, format)?;
        crate::timeline::mark("load: kernel in guest memory");
        let placement = match initramfs_job {
            None => None,
            Some((path, job)) => {
                let placement = match job {
                    Ok(handle) => handle.join().map_err(|_| LoaderError::LoaderThread("it panicked".into()))??,
                    // No second thread: load it on this one.
                    Err(_) => load_initramfs(mem, path, 0)?,
                };
                if placement.addr < kernel.end {
                    return Err(LoaderError::InitramfsTooLarge {
                        path: path.display().to_string(),
                        size: placement.size,
                    });
                }
                Some(placement)
            }
        };
        Ok((kernel, placement))
    })
}

/// What loading put where: the kernel, and the initramfs if there is one.
pub type Loaded = (LoadedKernel, Option<InitramfsPlacement>);

/// The kernel and initramfs being copied into guest memory in the
/// background while the caller sets up the rest of the VM (KVM VM,
/// irqchip, devices, seccomp filters), which needs none of it until the
/// boot vCPU's registers are written. Dropped without [`LoadJob::wait`],
/// it still waits for the copy, so guest memory is never written after the
/// caller has given up on the VM.
pub struct LoadJob {
    state: LoadState,
}

enum LoadState {
    Running(JoinHandle<Result<Loaded, LoaderError>>),
    /// No thread could be started: loaded on the caller's thread instead.
    Done(Result<Loaded, LoaderError>),
    Taken,
}

impl LoadJob {
    /// Starts loading `kernel` (and `initramfs`) into `mem`.
    pub fn start(mem: Arc<GuestMemoryMmap>, kernel: PathBuf, format: KernelFormat, initramfs: Option<PathBuf>) -> Self {
        let job = {
            let (mem, kernel, initramfs) = (mem.clone(), kernel.clone(), initramfs.clone());
            move || load_kernel_and_initramfs(&mem, &kernel, format, initramfs.as_deref())
        };
        let state = match std::thread::Builder::new().name("load-kernel".into()).spawn(job) {
            Ok(handle) => LoadState::Running(handle),
            Err(e) => {
                tracing::debug!(error = %e, "no loader thread; loading on this one");
                LoadState::Done(load_kernel_and_initramfs(&mem, &kernel, format, initramfs.as_deref()))
            }
        };
        LoadJob { state }
    }

    /// Waits for the copy and says what went where.
    pub fn wait(mut self) -> Result<Loaded, LoaderError> {
        match std::mem::replace(&mut self.state, LoadState::Taken) {
            LoadState::Running(handle) => handle.join().map_err(|_| LoaderError::LoaderThread("it panicked".into()))?,
            LoadState::Done(result) => result,
            LoadState::Taken => Err(LoaderError::LoaderThread("already waited for".into())),
        }
    }
}

impl Drop for LoadJob {
    fn drop(&mut self) {
        if let LoadState::Running(handle) = std::mem::replace(&mut self.state, LoadState::Taken) {
            let _ = handle.join();
        }
    }
}

/// Where an initramfs of `size` bytes goes: page-aligned, as high in low
/// memory as it fits (so the kernel can decompress below it), and never
/// over the kernel.
pub fn place_initramfs(mem_size: u64, kernel_end: u64, size: u64) -> Option<u64> {
    let low_end = mem_size.min(MMIO_GAP_START);
    let addr = low_end.checked_sub(size)? & !(PAGE_SIZE - 1);
    (addr >= kernel_end).then_some(addr)
}

/// Copies the initramfs at `path` into guest memory above the kernel.
pub fn load_initramfs(mem: &GuestMemoryMmap, path: &Path, kernel_end: u64) -> Result<InitramfsPlacement, LoaderError> {
    let display = path.display().to_string();
    let mut file =
        File::open(path).map_err(|source| LoaderError::Open { what: "initramfs", path: display.clone(), source })?;
    let size = file
        .seek(SeekFrom::End(0))
        .and_then(|s| file.rewind().map(|_| s))
        .map_err(|source| LoaderError::ReadInitramfs { path: display.clone(), source })?;
    let mem_size = mem.iter().map(GuestMemoryRegion::len).sum::<u64>();
    let addr = place_initramfs(mem_size, kernel_end, size)
        .ok_or_else(|| LoaderError::InitramfsTooLarge { path: display.clone(), size })?;
    let count = usize::try_from(size).map_err(|_| LoaderError::InitramfsTooLarge { path: display.clone(), size })?;
    mem.read_exact_volatile_from(GuestAddress(addr), &mut file, count)
        .map_err(|e| LoaderError::ReadInitramfs { path: display, source: std::io::Error::other(e) })?;
    Ok(InitramfsPlacement { addr, size })
}

/// Builds the final command line: the user's, plus one
/// `virtio_mmio.device=` entry per device.
pub fn build_cmdline(user: &str, virtio_devices: &[(u64, u32)]) -> Result<Cmdline, LoaderError> {
    let mut cmdline = Cmdline::new(MAX_CMDLINE_LEN)?;
    if !user.trim().is_empty() {
        cmdline.insert_str(user.trim())?;
    }
    for (addr, irq) in virtio_devices {
        cmdline.add_virtio_mmio_device(
            crate::arch::x86_64::layout::VIRTIO_MMIO_SLOT_SIZE,
            GuestAddress(*addr),
            *irq,
            None,
        )?;
    }
    Ok(cmdline)
}

/// Writes the command line at [`CMDLINE_START`]; returns its length.
pub fn write_cmdline(mem: &GuestMemoryMmap, cmdline: &Cmdline) -> Result<usize, LoaderError> {
    load_cmdline(mem, GuestAddress(CMDLINE_START), cmdline).map_err(LoaderError::WriteCmdline)?;
    Ok(cmdline.as_cstring()?.as_bytes().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn initramfs_goes_high_and_page_aligned() {
        let addr = place_initramfs(64 << 20, 0x200_0000, 0x1234).unwrap();
        assert_eq!(addr % PAGE_SIZE, 0);
        assert!(addr + 0x1234 <= 64 << 20);
        assert!(addr >= 0x200_0000);
        assert_eq!(place_initramfs(64 << 20, 0x300_0000, 63 << 20), None, "overlaps the kernel");
        assert_eq!(place_initramfs(1 << 20, 0, 2 << 20), None, "larger than memory");
    }

    #[test]
    fn initramfs_bytes_land_where_placed() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 32 << 20)]).unwrap();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        f.write_all(&data).unwrap();
        let p = load_initramfs(&mem, f.path(), 0x100_0000).unwrap();
        assert_eq!(p.size, 10_000);
        let mut back = vec![0u8; 10_000];
        mem.read_slice(&mut back, GuestAddress(p.addr)).unwrap();
        assert_eq!(back, data);
        let err = load_initramfs(&mem, f.path(), 32 << 20).unwrap_err();
        assert!(matches!(err, LoaderError::InitramfsTooLarge { .. }));
    }

    #[test]
    fn an_initramfs_over_the_kernel_is_refused_when_loaded_alongside() {
        // A 64-bit ELF whose one PT_LOAD fills 24 of 32 MiB from 1 MiB up.
        let mut elf = vec![0u8; 0x1000];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // 64-bit
        elf[5] = 1; // little-endian
        elf[6] = 1; // version
        elf[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        elf[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86_64
        elf[20..24].copy_from_slice(&1u32.to_le_bytes());
        elf[24..32].copy_from_slice(&0x100_0000u64.to_le_bytes()); // entry
        elf[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        elf[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
        elf[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
        elf[56..58].copy_from_slice(&1u16.to_le_bytes()); // phnum
        let ph = &mut elf[64..120];
        ph[..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        ph[8..16].copy_from_slice(&0u64.to_le_bytes()); // offset
        ph[24..32].copy_from_slice(&0x10_0000u64.to_le_bytes()); // paddr
        ph[32..40].copy_from_slice(&0x1000u64.to_le_bytes()); // filesz
        ph[40..48].copy_from_slice(&(24u64 << 20).to_le_bytes()); // memsz
        let mut kernel = tempfile::NamedTempFile::new().unwrap();
        kernel.write_all(&elf).unwrap();
        let mut small = tempfile::NamedTempFile::new().unwrap();
        small.write_all(&[7u8; 4096]).unwrap();
        let mut big = tempfile::NamedTempFile::new().unwrap();
        big.write_all(&vec![9u8; 12 << 20]).unwrap();

        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 32 << 20)]).unwrap();
        let (k, p) = load_kernel_and_initramfs(&mem, kernel.path(), KernelFormat::Elf, Some(small.path())).unwrap();
        let p = p.unwrap();
        assert!(p.addr >= k.end && p.addr + p.size <= 32 << 20);
        assert_eq!(mem.read_obj::<u8>(GuestAddress(p.addr)).unwrap(), 7);
        let err = load_kernel_and_initramfs(&mem, kernel.path(), KernelFormat::Elf, Some(big.path())).unwrap_err();
        assert!(matches!(err, LoaderError::InitramfsTooLarge { .. }), "{err}");
        let (_, none) = load_kernel_and_initramfs(&mem, kernel.path(), KernelFormat::Elf, None).unwrap();
        assert!(none.is_none());

        // The same in the background.
        let mem = Arc::new(mem);
        let job = LoadJob::start(
            mem.clone(),
            kernel.path().to_path_buf(),
            KernelFormat::Elf,
            Some(small.path().to_path_buf()),
        );
        let (k2, p2) = job.wait().unwrap();
        assert_eq!((k2.end, p2.map(|p| p.addr)), (k.end, Some(p.addr)));
        let job = LoadJob::start(mem, kernel.path().to_path_buf(), KernelFormat::Elf, Some(big.path().to_path_buf()));
        assert!(matches!(job.wait(), Err(LoaderError::InitramfsTooLarge { .. })));
    }

    #[test]
    fn not_a_kernel_is_a_clear_error() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 32 << 20)]).unwrap();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut bytes = b"\x7fELF".to_vec();
        bytes.resize(128, 0xaa);
        f.write_all(&bytes).unwrap();
        let err = load_kernel(&mem, f.path(), KernelFormat::Elf).unwrap_err().to_string();
        assert!(err.contains("could not be loaded"), "{err}");
    }

    #[test]
    fn cmdline_gets_virtio_entries() {
        let c = build_cmdline("console=ttyS0", &[(0xc000_0000, 5), (0xc000_1000, 6)]).unwrap();
        let s = c.as_cstring().unwrap().into_string().unwrap();
        assert_eq!(s, "console=ttyS0 virtio_mmio.device=4K@0xc0000000:5 virtio_mmio.device=4K@0xc0001000:6");
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
        let len = write_cmdline(&mem, &c).unwrap();
        let mut back = vec![0u8; len + 1];
        mem.read_slice(&mut back, GuestAddress(CMDLINE_START)).unwrap();
        assert_eq!(&back[..len], s.as_bytes());
        assert_eq!(back[len], 0);
    }
}
