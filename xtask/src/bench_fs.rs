//! `xtask fs-bench` (inside the test bed; `cargo xtask bench fs` on the
//! host): file work inside a container on (a) a host folder shared into a
//! berth machine over berth's virtio-fs, (b) the same folder shared into
//! QEMU (microvm, KVM) booting the same kernel and initramfs, served by a
//! virtiofsd started with the very arguments berth's machine gave its
//! own, and (c) a named volume on the berth machine's data disk. Same
//! test-bed run; prints each round, the medians and the ratios
//! a/b (berth's side of the path against QEMU's, goal ≤ 1.0) and a/c (the
//! price of sharing against the VM's own disk, goal ≤ 3 on the metadata
//! job). One VM runs at a time (berth's for (a) and (c), interleaved, then
//! QEMU's for (b)), each with one vCPU, 512 MiB and its engine's root on a
//! data disk of its own, in a test bed of 6 GiB: in the default 2 GiB,
//! guests of 1 GiB (two at once, or one with the bench's files beside it)
//! stalled or crashed the test bed's own kernel (2026-12-07).
//!
//! Two jobs, each timed by the container itself (`/proc/uptime`, so the
//! `docker run` around it is not counted): metadata — unpack the Debian
//! fixture's tree (~6,600 files, its tar read from a volume on the VM's
//! own disk) into the directory under test, `find | xargs stat` over it,
//! `rm -rf` it; bulk — write 256 MiB (and sync), then read them back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::guest_boot::{Kernel, median};
use crate::{prereq, process};

const MACHINE: &str = "fsbench";
const WORK: &str = "/var/tmp/berth-fsbench";
const VOLUME: &str = "fsbench";
/// The tree's tar, copied once from the share onto the VM's own disk, so
/// that every job reads its input from the same place on both sides.
const SRC_VOLUME: &str = "fsbench-src";
const VSOCK_CID: u32 = 41;
const ENGINE_PORT: u32 = 2375;

/// Runs in the container with the directory to work in as `$1`; prints
/// the uptime before and after each phase.
const JOB: &str = r#"W=$1; up() { cut -d' ' -f1 /proc/uptime; }
t0=$(up); mkdir -p "$W/t" && tar -C "$W/t" -xf /src/tree.tar
t1=$(up); find "$W/t" | xargs stat >/dev/null
t2=$(up); rm -rf "$W/t"
t3=$(up); dd if=/dev/zero of="$W/big" bs=1M count=256 2>/dev/null && sync
t4=$(up); dd if="$W/big" of=/dev/null bs=1M 2>/dev/null
t5=$(up); rm -f "$W/big"
echo "times: $t0 $t1 $t2 $t3 $t4 $t5""#;

/// One run of the job: seconds for the metadata job and the bulk job.
#[derive(Debug, Clone, Copy)]
struct Timing {
    metadata: f64,
    bulk: f64,
}

fn parse_times(out: &str) -> Result<Timing> {
    let t: Vec<f64> = out
        .lines()
        .find_map(|l| l.strip_prefix("times: "))
        .map(|l| l.split_whitespace().filter_map(|v| v.parse().ok()).collect())
        .unwrap_or_default();
    if t.len() != 6 {
        return Err(Error::Invalid(format!("the job printed no times: {out}")));
    }
    Ok(Timing { metadata: t[3] - t[0], bulk: t[5] - t[3] })
}

/// A process killed when the bench ends however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An engine reached with the docker CLI.
struct Side {
    name: &'static str,
    socket: PathBuf,
}

impl Side {
    fn docker(&self, args: &[&str]) -> Result<String> {
        process::output(
            Command::new("docker").env("DOCKER_HOST", format!("unix://{}", self.socket.display())).args(args),
        )
    }

    /// busybox, the volume (c) and the volume with the tree's tar, copied
    /// in from the share (`src` is the tar's directory in it). Not a
    /// `docker build` of an image with the tar: 120 MB over QEMU's
    /// vhost-vsock crashed the test bed's kernel (a stack-guard page hit in
    /// a page fault loop of its qemu-system-x86 task, 2026-12-08).
    fn prepare(&self, busybox: &Path, src: &str) -> Result<()> {
        self.docker(&["load", "-q", "-i", &busybox.to_string_lossy()])?;
        self.docker(&["volume", "create", VOLUME])?;
        self.docker(&["volume", "create", SRC_VOLUME])?;
        let from = format!("{src}:/s:ro");
        let to = format!("{SRC_VOLUME}:/src");
        self.docker(&["run", "--rm", "-v", &from, "-v", &to, "busybox", "cp", "/s/tree.tar", "/src/tree.tar"])?;
        Ok(())
    }

    fn job(&self, mount: &str) -> Result<Timing> {
        let src = format!("{SRC_VOLUME}:/src:ro");
        let out = self.docker(&["run", "--rm", "-v", mount, "-v", &src, "busybox", "sh", "-c", JOB, "sh", "/w"])?;
        parse_times(&out)
    }
}

pub fn run(rounds: usize) -> Result<()> {
    let qemu = prereq::qemu()?;
    prereq::tool("socat", "socat")?;
    let env = |k: &str| {
        std::env::var_os(k)
            .map(PathBuf::from)
            .ok_or_else(|| Error::Invalid(format!("${k} is not set: run in the test bed")))
    };
    let (busybox, debian) = (env("BERTH_FIXTURE_BUSYBOX")?, env("BERTH_FIXTURE_DEBIAN")?);
    let work = PathBuf::from(WORK);
    let _ = std::fs::remove_dir_all(&work);
    let share = work.join("share");
    let src = share.join(".src");
    std::fs::create_dir_all(&src).at(&src)?;
    tree_tar(&debian, &src.join("tree.tar"))?;
    let src_s = src.to_string_lossy().into_owned();

    let berth = |args: &[&str]| process::output(Command::new("berth").args(args));
    let _ = berth(&["machine", "rm", "--force", MACHINE]);
    let share_s = share.to_string_lossy().into_owned();
    berth(&["machine", "create", "--cpus", "1", "--memory", "512M", "--disk", "4G", "--mount", &share_s, MACHINE])?;
    let result = (|| {
        let bind = format!("{share_s}:/w");
        let vol = format!("{VOLUME}:/w");
        let mut all: [Vec<Timing>; 3] = Default::default();
        // berth's side: (a) and (c), interleaved.
        eprintln!("fs-bench: starting berth machine {MACHINE}");
        berth(&["machine", "start", MACHINE])?;
        let inspect: serde_json::Value = serde_json::from_str(&berth(&["machine", "inspect", MACHINE])?)
            .map_err(|e| Error::Invalid(format!("berth machine inspect: {e}")))?;
        let dir = PathBuf::from(inspect["Dir"].as_str().unwrap_or_default());
        let b = Side { name: "berth", socket: dir.join("docker.sock") };
        eprintln!("fs-bench: berth: loading busybox, copying the tree's tar onto the VM's disk");
        if let Err(e) = b.prepare(&busybox, &src_s) {
            // What the engine and the console said is the only trace of why.
            for what in [&["machine", "logs", "--engine", MACHINE][..], &["machine", "logs", MACHINE][..]] {
                let out = berth(what).unwrap_or_else(|e| e.to_string());
                eprintln!("fs-bench: berth {}:\n{}", what.join(" "), crate::testbed::last_lines(&out, 40));
            }
            return Err(e);
        }
        // QEMU's virtiofsd gets the arguments berth gave its own.
        let args = virtiofsd_args(&dir.join("share-0.sock"))?;
        for round in 1..=rounds {
            let (a, c) = (b.job(&bind)?, b.job(&vol)?);
            println!(
                "round {round}: (a) metadata {:.2} s, bulk {:.2} s; (c) metadata {:.2} s, bulk {:.2} s",
                a.metadata, a.bulk, c.metadata, c.bulk
            );
            all[0].push(a);
            all[2].push(c);
        }
        berth(&["machine", "stop", MACHINE])?;

        // QEMU's side: (b).
        let qsock = work.join("qemu-fs.sock");
        // Quiet: virtiofsd warns about file handles, socat about every
        // refused connection while the guest boots.
        let fsd = Killed(spawn(Command::new(&args[0]).args(swap_socket(&args[1..], &qsock)).stderr(Stdio::null()))?);
        wait_for(&qsock)?;
        let disk = work.join("qemu-data.img");
        std::fs::File::create(&disk).and_then(|f| f.set_len(4 << 30)).at(&disk)?;
        process::output(Command::new(prereq::tool("mkfs.ext4", "e2fsprogs")?).args(["-q", "-F"]).arg(&disk))?;
        let vm = Killed(spawn(&mut qemu_command(&qemu, &qsock, &share_s, &disk)?)?);
        let qdocker = work.join("qemu-docker.sock");
        let relay = Killed(spawn(
            Command::new("socat")
                .arg(format!("UNIX-LISTEN:{},fork", qdocker.display()))
                .arg(format!("VSOCK-CONNECT:{VSOCK_CID}:{ENGINE_PORT}"))
                .stderr(Stdio::null()),
        )?);
        let q = Side { name: "qemu", socket: qdocker };
        eprintln!("fs-bench: waiting for QEMU's guest engine");
        wait_for_engine(&q)?;
        eprintln!("fs-bench: qemu: loading busybox, copying the tree's tar onto the VM's disk");
        q.prepare(&busybox, &src_s)?;
        for round in 1..=rounds {
            let t = q.job(&bind)?;
            println!("round {round}: (b) metadata {:.2} s, bulk {:.2} s", t.metadata, t.bulk);
            all[1].push(t);
        }
        drop((relay, vm, fsd));
        report(&all, rounds, &b, &q);
        Ok(())
    })();
    let _ = berth(&["machine", "rm", "--force", MACHINE]);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn report(all: &[Vec<Timing>; 3], rounds: usize, b: &Side, q: &Side) {
    let med = |i: usize, f: fn(&Timing) -> f64| median(all[i].iter().map(f));
    println!(
        "(a) {} virtio-fs, (b) {} with the same virtiofsd, (c) a named volume on berth's data disk",
        b.name, q.name
    );
    for (job, f, goal_ac) in
        [("metadata", (|t: &Timing| t.metadata) as fn(&Timing) -> f64, Some(3.0)), ("bulk", |t: &Timing| t.bulk, None)]
    {
        let (a, bq, c) = (med(0, f), med(1, f), med(2, f));
        println!("median of {rounds}, {job}: a {a:.2} s, b {bq:.2} s, c {c:.2} s");
        println!("ratio a/b ({job}): {:.2} (goal <= 1.0)", a / bq);
        match goal_ac {
            Some(g) => println!("ratio a/c ({job}): {:.2} (goal <= {g})", a / c),
            None => println!("ratio a/c ({job}): {:.2}", a / c),
        }
    }
}

/// The fixture's single layer: the tree as one tar.
fn tree_tar(archive: &Path, out: &Path) -> Result<()> {
    let layer = crate::fixtures::archive::first_layer(archive)?;
    let file = std::fs::File::create(out).at(out)?;
    let status = Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg(layer)
        .stdout(file)
        .status()
        .map_err(|e| Error::Command { command: "tar".into(), detail: e.to_string() })?;
    if !status.success() {
        return Err(Error::Command { command: "tar -xOf".into(), detail: status.to_string() });
    }
    Ok(())
}

/// The command line of the virtiofsd that listens on `socket` (berth's).
fn virtiofsd_args(socket: &Path) -> Result<Vec<String>> {
    let want = socket.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").at(Path::new("/proc"))?.flatten() {
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> =
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.first().is_some_and(|a| a.ends_with("virtiofsd")) && args.contains(&want) {
            return Ok(args);
        }
    }
    Err(Error::Invalid(format!("no virtiofsd serves {want}")))
}

/// `args` with the value of `--socket-path` replaced by `socket`.
fn swap_socket(args: &[String], socket: &Path) -> Vec<String> {
    let mut out = args.to_vec();
    if let Some(i) = out.iter().position(|a| a == "--socket-path") {
        out[i + 1] = socket.to_string_lossy().into_owned();
    }
    out
}

fn qemu_command(qemu: &Path, fs_socket: &Path, share: &str, disk: &Path) -> Result<Command> {
    let (kernel, initramfs) = Kernel::Berth.images()?;
    let mut c = Command::new(qemu);
    c.args(["-M", &format!("{},memory-backend=mem", Kernel::Berth.machine()), "-enable-kvm", "-cpu", "host"])
        .args(["-m", "512", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"])
        .args(["-object", "memory-backend-memfd,id=mem,size=512M,share=on"])
        .args(["-serial", "null", "-kernel"])
        .arg(kernel)
        .arg("-initrd")
        .arg(initramfs)
        .arg("-append")
        .arg(format!("console=ttyS0 reboot=t panic=-1 quiet berth.data=/dev/vda berth.share=berth0,rw,{share},{share}"))
        .arg("-drive")
        .arg(format!("file={},if=none,id=data,format=raw", disk.display()))
        .args(["-device", "virtio-blk-device,drive=data"])
        .arg("-chardev")
        .arg(format!("socket,id=fs0,path={}", fs_socket.display()))
        .args(["-device", "vhost-user-fs-device,chardev=fs0,tag=berth0,queue-size=1024"])
        .args(["-device", &format!("vhost-vsock-device,guest-cid={VSOCK_CID}")]);
    Ok(c)
}

/// Starts a helper with its output discarded (socat logs every refused
/// connection while the guest boots; virtiofsd warns about file handles).
fn spawn(cmd: &mut Command) -> Result<Child> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Command { command: format!("{cmd:?}"), detail: e.to_string() })
}

fn wait_for(path: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        if Instant::now() > deadline {
            return Err(Error::Invalid(format!("{} did not appear", path.display())));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn wait_for_engine(side: &Side) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match side.docker(&["version", "--format", "{{.Server.Version}}"]) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_become_phase_durations() {
        let t = parse_times("noise\ntimes: 10.00 11.50 12.00 13.25 15.25 16.00\n").unwrap();
        assert!((t.metadata - 3.25).abs() < 1e-9 && (t.bulk - 2.75).abs() < 1e-9, "{t:?}");
        assert!(parse_times("times: 1 2").is_err());
    }

    #[test]
    fn the_socket_is_swapped_and_nothing_else() {
        let args: Vec<String> =
            ["--shared-dir", "/s", "--socket-path", "/m/share-0.sock", "--cache", "auto"].map(String::from).to_vec();
        let out = swap_socket(&args, Path::new("/q.sock"));
        assert_eq!(out, ["--shared-dir", "/s", "--socket-path", "/q.sock", "--cache", "auto"]);
    }
}
