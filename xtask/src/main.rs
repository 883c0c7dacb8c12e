//! `cargo xtask`: berth's developer tasks. See `cargo xtask --help`.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use xtask::error::Result;
use xtask::guest_boot::{self, Kernel};
use xtask::{images, paths, testbed, tiers};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "berth's developer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build (or find cached) the guest kernels, initramfs images and the
    /// test bed's image, and print their paths.
    Images,
    /// Build (or find cached) the offline image fixtures (busybox, Debian)
    /// as docker-archive tars, record them in images.env and print their
    /// paths; `fixtures seed --registry HOST:PORT` pushes them to a registry.
    Fixtures {
        #[command(subcommand)]
        action: Option<xtask::fixtures::cli::Action>,
        /// busybox only (seconds; no debootstrap).
        #[arg(long, global = true)]
        busybox_only: bool,
    },
    /// Run a command inside the nested-KVM test bed (a QEMU TCG VM with a
    /// real /dev/kvm) and exit with its status.
    Testbed {
        /// Memory of the test-bed VM.
        #[arg(long, default_value = "2G")]
        mem: String,
        /// vCPUs of the test-bed VM.
        #[arg(long, default_value_t = 2)]
        cpus: u32,
        /// Size of its scratch disk in GiB (sparse; the writable root).
        #[arg(long, default_value_t = 8)]
        disk: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
        /// The command, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// The compatibility suite: docker CLI, docker-py, docker-compose and
    /// berth's CLI against the engine in process mode (tests/compat).
    Compat {
        /// Arguments for pytest (e.g. -k compose).
        #[arg(last = true)]
        pytest_args: Vec<String>,
    },
    /// Run the tests: the quick tier, then the test-bed suites.
    Test {
        /// Only the quick tier (`cargo test --workspace`).
        #[arg(long)]
        quick: bool,
    },
    /// Run a benchmark against its peer and print the ratio.
    Bench {
        name: Bench,
        /// Rounds per contender.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// boot-loop: the guest kernels to boot (repeatable).
        #[arg(long = "kernel", value_enum, default_values_t = [Kernel::Berth, Kernel::Debian])]
        kernels: Vec<Kernel>,
        /// boot-loop: the VMMs to boot them under (repeatable).
        #[arg(long = "vmm", value_enum, default_values_t = [LoopVmm::Berth, LoopVmm::Qemu])]
        vmms: Vec<LoopVmm>,
    },
    /// Set up, then start a berth machine in the test bed and talk to its
    /// engine with the docker CLI (the README's first command, after the
    /// packages are installed).
    Quickstart,
    /// Run a berth-vmm fuzz target (vsock_packet, block_request) under
    /// libFuzzer, on the nightly toolchain; installs cargo-fuzz if missing.
    Fuzz {
        target: String,
        /// libFuzzer's time budget.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// (Inside the test bed.) Boot after boot to the engine's /_ping and a
    /// clean power-off under each VMM; failures by kind, boot-time spread.
    BootLoop {
        #[arg(long = "kernel", value_enum, required = true)]
        kernels: Vec<Kernel>,
        #[arg(long = "vmm", value_enum, required = true)]
        vmms: Vec<LoopVmm>,
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
    /// (Inside the test bed.) berth-vmm against QEMU microvm: process
    /// start to the guest's first init line, and private memory.
    BootBench {
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// The runtime half of `bench run` alone, against the given peer
    /// (default: crun on a cgroup-v2-only host, runc otherwise).
    RuntimeBench {
        #[arg(long, default_value_t = 10)]
        rounds: usize,
        #[arg(long, value_enum)]
        peer: Option<xtask::bench_run::Peer>,
    },
    /// (Inside the test bed.) File work in a container on a host folder
    /// over berth's virtio-fs, over QEMU's with the same virtiofsd, and on
    /// a named volume.
    FsBench {
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// (Inside the test bed.) `berth machine start` against QEMU booting the
    /// same kernel and initramfs, both until the engine answers /_ping.
    MachineStartBench {
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// (Inside the test bed.) Boot a guest kernel with the agent under
    /// `qemu -enable-kvm` and report the time to init.
    GuestBoot {
        #[arg(long = "kernel", value_enum, default_values_t = [Kernel::Berth])]
        kernels: Vec<Kernel>,
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Show the guest's console.
        #[arg(long)]
        console: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Bench {
    /// Guest time to init: berth's kernel against Debian's stock kernel,
    /// both under QEMU with KVM in the test bed.
    KernelBoot,
    /// `berth machine start` until /_ping answers, against QEMU (microvm)
    /// booting the same kernel and initramfs to the same point.
    MachineStart,
    /// berth-vmm against QEMU microvm booting the same kernel and
    /// initramfs: time from process start to the guest's first init line,
    /// and berth-vmm's private memory outside guest RAM.
    Boot,
    /// Containers: create+start+wait of busybox `true` through berth's
    /// runtime (shim + libcontainer) against runc on the same bundle here,
    /// and against crun in the test bed (cgroup v2 only, as in berth's VM);
    /// then `docker run --rm busybox true` through berth's API (process
    /// mode) against podman doing the same.
    Run,
    /// Pull + unpack of a four-layer Debian image from a loopback registry:
    /// berth's engine against skopeo copy + umoci unpack.
    Pull,
    /// `docker build` (classic builder) of a three-stage Dockerfile with a
    /// COPY of the Debian tree, through berth's engine, against `podman
    /// build`: cold, no change, one file changed.
    Build,
    /// Boot reliability: `--rounds` boots of each `--kernel` (berth,
    /// debian) to the engine's /_ping and a clean power-off, under each
    /// `--vmm` (berth, qemu), in one test-bed run; the failures by kind
    /// (triple fault, emulation failure, panic, stall, no answer) and the
    /// spread of boot times.
    BootLoop,
    /// Host folders: a metadata-heavy job (unpack the Debian tree, stat
    /// it, remove it) and a bulk one (256 MiB written, read) in a
    /// container on a host folder over berth's virtio-fs, against QEMU
    /// with the same virtiofsd and against a named volume, in the test bed.
    Fs,
}

/// The VMMs the boot loop compares.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LoopVmm {
    Berth,
    Qemu,
}

impl LoopVmm {
    fn name(self) -> &'static str {
        match self {
            LoopVmm::Berth => "berth",
            LoopVmm::Qemu => "qemu",
        }
    }

    fn vmm(self) -> xtask::bench_boot_loop::Vmm {
        match self {
            LoopVmm::Berth => xtask::bench_boot_loop::Vmm::Berth,
            LoopVmm::Qemu => xtask::bench_boot_loop::Vmm::Qemu,
        }
    }
}

/// `Kernel`'s command-line spelling (clap's value name).
fn kernel_name(k: Kernel) -> &'static str {
    match k {
        Kernel::Berth => "berth",
        Kernel::Debian => "debian",
    }
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<ExitCode> {
    match task {
        Task::Images => {
            let started = Instant::now();
            let images = images::build()?;
            print!("{}", images.to_env());
            eprintln!(
                "xtask: images ready in {:.1} s (manifest: {})",
                started.elapsed().as_secs_f64(),
                paths::images_manifest().display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Task::Fixtures { action, busybox_only } => xtask::fixtures::cli::run(action, busybox_only),
        Task::Testbed { mem, cpus, disk, timeout, command } => {
            let opts = testbed::Options {
                memory: mem,
                cpus,
                disk_gib: disk,
                timeout: Duration::from_secs(timeout),
                echo: true,
                retry_lost_runs: false,
            };
            let outcome = testbed::run(&opts, &command)?;
            Ok(exit_code(outcome.status))
        }
        Task::Compat { pytest_args } => {
            xtask::compat::run(&pytest_args)?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Test { quick } => {
            tiers::run(quick)?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Bench { name: Bench::KernelBoot, rounds, .. } => {
            let cmd =
                ["xtask", "guest-boot", "--kernel", "berth", "--kernel", "debian", "--rounds", &rounds.to_string()];
            let outcome = testbed::run(&testbed::Options::default(), &cmd.map(String::from))?;
            Ok(exit_code(outcome.status))
        }
        Task::Bench { name: Bench::MachineStart, rounds, .. } => {
            let cmd = ["xtask", "machine-start-bench", "--rounds", &rounds.to_string()];
            let outcome = testbed::run(&testbed::Options::default(), &cmd.map(String::from))?;
            Ok(exit_code(outcome.status))
        }
        Task::Bench { name: Bench::Boot, rounds, .. } => {
            let script = paths::workspace_root().join("vmm/testbed/build-initramfs.sh");
            xtask::process::run(Command::new("sh").arg(script))?;
            let cmd = ["xtask", "boot-bench", "--rounds", &rounds.to_string()];
            let outcome = testbed::run(&testbed::Options::default(), &cmd.map(String::from))?;
            Ok(exit_code(outcome.status))
        }
        Task::Bench { name: Bench::BootLoop, rounds, kernels, vmms } => {
            let mut cmd = vec!["xtask".to_string(), "boot-loop".into(), "--rounds".into(), rounds.to_string()];
            for k in &kernels {
                cmd.extend(["--kernel".to_string(), kernel_name(*k).to_string()]);
            }
            for v in &vmms {
                cmd.extend(["--vmm".to_string(), v.name().to_string()]);
            }
            // A boot takes seconds; a failed one up to its three-minute
            // deadline: the run's limit grows with the boots asked for.
            let boots = (rounds * kernels.len() * vmms.len()) as u64;
            let opts = testbed::Options { timeout: Duration::from_secs(1200 + boots * 45), ..Default::default() };
            let outcome = testbed::run(&opts, &cmd)?;
            Ok(exit_code(outcome.status))
        }
        Task::BootLoop { kernels, vmms, rounds } => {
            let vmms: Vec<_> = vmms.iter().map(|v| v.vmm()).collect();
            xtask::bench_boot_loop::run(&kernels, &vmms, rounds)?;
            Ok(ExitCode::SUCCESS)
        }
        Task::BootBench { rounds } => {
            xtask::bench_boot::run(rounds)?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Bench { name: Bench::Run, rounds, .. } => {
            use xtask::bench_run::{Peer, agent_binary, runtime_level};
            runtime_level(rounds, Peer::for_this_host())?;
            xtask::bench_run_api::run(rounds)?;
            // crun in the test bed: its root is an overlay, which cannot be a
            // container's upper layer, so the state goes to a tmpfs.
            let agent = agent_binary()?;
            println!("in the test bed (cgroup v2 only, under TCG: compare the ratio, not the times):");
            let script = format!(
                "mkdir -p /run/bench && mount -t tmpfs tmpfs /run/bench && \
                 TMPDIR=/run/bench BERTH_AGENT_BIN={} xtask runtime-bench --peer crun --rounds {rounds}",
                agent.display()
            );
            let outcome = testbed::run(&testbed::Options::default(), &["sh".into(), "-c".into(), script])?;
            Ok(exit_code(outcome.status))
        }
        Task::RuntimeBench { rounds, peer } => {
            use xtask::bench_run::{Peer, runtime_level};
            runtime_level(rounds, peer.unwrap_or_else(Peer::for_this_host))?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Bench { name: Bench::Pull, rounds, .. } => {
            xtask::bench_pull::run(rounds)?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Bench { name: Bench::Fs, rounds, .. } => {
            let cmd = ["xtask", "fs-bench", "--rounds", &rounds.to_string()];
            // Room for a guest, the bench's files and both daemons' caches:
            // in the default 2 GiB the test bed stalled or crashed. Under
            // TCG one round of the metadata job over virtio-fs took 642 s
            // (2026-12-08), and the set-up about 15 min.
            let timeout = Duration::from_secs(1800 + 1800 * rounds as u64);
            let opts = testbed::Options { timeout, memory: "6G".into(), ..Default::default() };
            let outcome = testbed::run(&opts, &cmd.map(String::from))?;
            Ok(exit_code(outcome.status))
        }
        Task::FsBench { rounds } => {
            xtask::bench_fs::run(rounds)?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Bench { name: Bench::Build, rounds, .. } => {
            xtask::bench_build::run(rounds)?;
            Ok(ExitCode::SUCCESS)
        }
        Task::MachineStartBench { rounds } => {
            xtask::machine_start::run(rounds)?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Quickstart => quickstart(),
        Task::Fuzz { target, seconds } => {
            xtask::fuzz::run(&target, seconds)?;
            Ok(ExitCode::SUCCESS)
        }
        Task::GuestBoot { kernels, rounds, console } => {
            guest_boot::compare(&kernels, rounds, console)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn quickstart() -> Result<ExitCode> {
    eprintln!("xtask: can this host boot berth's micro-VM?");
    let images = images::build()?;
    // The host's own answer first (on a fresh clone the binary is built here,
    // not only later for the test bed). Its verdict does not stop the
    // quickstart: the test bed below is the way that works on a PVM host.
    testbed::build_release_binaries()?;
    let berth = paths::target_dir().join("release/berth");
    if let Err(e) = Command::new(&berth).arg("check").status() {
        eprintln!("xtask: cannot run {}: {e}", berth.display());
    }
    eprintln!("xtask: images:\n{}", images.to_env());
    eprintln!("xtask: starting a berth machine (berth-vmm, berth's kernel, the agent) in the nested-KVM test bed");
    // The main job: a container in a micro-VM, through the docker CLI and
    // through berth's own CLI, from the offline busybox fixture.
    let script = "set -e; berth check; \
        berth machine create --memory 1G --disk 2G quickstart; \
        berth machine start quickstart; \
        eval \"$(berth docker-env --machine quickstart)\"; \
        docker version --format 'engine: {{.Server.Version}} (API {{.Server.APIVersion}})'; \
        docker load -i \"$BERTH_FIXTURE_BUSYBOX\"; \
        docker run --rm busybox sh -c 'echo hello from container $(hostname) on the VM kernel $(uname -r)'; \
        berth --machine quickstart run --rm busybox echo hi; \
        berth machine stop quickstart; berth machine rm quickstart";
    let outcome = testbed::run(&testbed::Options::default(), &["sh".into(), "-c".into(), script.into()])?;
    if outcome.status == 0 {
        eprintln!(
            "xtask: the machine booted and ran containers for the docker CLI and for berth. Next: `cargo xtask test` runs the tests."
        );
    }
    Ok(exit_code(outcome.status))
}

fn exit_code(status: i32) -> ExitCode {
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}
