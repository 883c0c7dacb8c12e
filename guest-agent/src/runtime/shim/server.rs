//! The shim's event loop: the control socket, the container's stdio pumps,
//! and the reaper. Single-threaded (a current-thread runtime and a
//! LocalSet): state lives in `Rc`/`RefCell`, never across an `.await` that
//! could let another task see it half-changed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, spawn_local};

use super::config::{ShimConfig, save_exit};
use super::fdio::{FdIo, recv_fd, set_winsize};
use super::hub::{Hub, LogWriter, STDERR, STDOUT};
use super::lc::{self, StartFailure, Stdio};
use super::watchdog;
use crate::runtime::protocol::{ErrorReply, MAX_LINE, Reply, Request};
use crate::runtime::{ContainerState, ExecRequest, ExitInfo, RuntimeError};

/// How long output may trail a process's exit before its streams close.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// Where a process's stdin goes; closing it is the process's stdin EOF.
struct StdinSink {
    fd: RefCell<Option<Rc<FdIo>>>,
    /// A pty master is also the output: never close it for stdin EOF.
    is_pty: bool,
}

impl StdinSink {
    async fn write(&self, data: &[u8]) -> std::io::Result<()> {
        let fd = self.fd.borrow().clone();
        match fd {
            Some(fd) => fd.write_all(data).await,
            None => Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
        }
    }
    fn close(&self) {
        if !self.is_pty {
            self.fd.borrow_mut().take();
        }
    }
}

/// A process's I/O as the shim holds it.
struct ProcessIo {
    hub: Rc<Hub>,
    stdin: Rc<StdinSink>,
    pty: RefCell<Option<Rc<FdIo>>>,
    pumps: RefCell<Vec<JoinHandle<()>>>,
}

impl ProcessIo {
    fn new(tty: bool, log: Option<LogWriter>) -> Rc<Self> {
        Rc::new(ProcessIo {
            hub: Rc::new(Hub::new(tty, log)),
            stdin: Rc::new(StdinSink { fd: RefCell::new(None), is_pty: tty }),
            pty: RefCell::new(None),
            pumps: RefCell::new(Vec::new()),
        })
    }

    fn pump(&self, fd: Rc<FdIo>, stream: u8) {
        let hub = self.hub.clone();
        self.pumps.borrow_mut().push(spawn_local(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match fd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => hub.publish(stream, &buf[..n]).await,
                }
            }
        }));
    }

    /// Pipes for a process without a TTY: returns the child's ends and
    /// starts the pumps on ours.
    fn pipes(&self, with_stdin: bool) -> std::io::Result<Stdio> {
        let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from);
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let stdin: OwnedFd = if with_stdin {
            let (in_r, in_w) = pipe()?;
            *self.stdin.fd.borrow_mut() = Some(Rc::new(FdIo::new(in_w)?));
            in_r
        } else {
            std::fs::File::open("/dev/null")?.into()
        };
        self.pump(Rc::new(FdIo::new(out_r)?), STDOUT);
        self.pump(Rc::new(FdIo::new(err_r)?), STDERR);
        Ok(Stdio::Pipes { stdin, stdout: out_w, stderr: err_w })
    }

    /// After libcontainer sent the pty master on `listener`.
    fn take_pty(&self, listener: &StdUnixListener, size: Option<(u16, u16)>, with_stdin: bool) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        let (conn, _) = listener.accept()?;
        conn.set_nonblocking(false)?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        let master = Rc::new(FdIo::new(recv_fd(&conn)?)?);
        if let Some((w, h)) = size {
            let _ = set_winsize(master.raw(), w, h);
        }
        if with_stdin {
            *self.stdin.fd.borrow_mut() = Some(master.clone());
        }
        *self.pty.borrow_mut() = Some(master.clone());
        self.pump(master, STDOUT);
        Ok(())
    }

    /// Waits (bounded) for the output to end, then ends the attach streams.
    async fn drain_and_close(&self) {
        let pumps: Vec<JoinHandle<()>> = self.pumps.borrow_mut().drain(..).collect();
        let all = futures_util::future::join_all(pumps);
        if tokio::time::timeout(OUTPUT_DRAIN, all).await.is_err() {
            tracing::warn!("output still open after the process exited; closing attach streams");
        }
        self.hub.close();
        self.stdin.fd.borrow_mut().take();
        self.pty.borrow_mut().take();
    }
}

struct Exec {
    pid: i32,
    started_at: SystemTime,
    io: Rc<ProcessIo>,
    exit: watch::Sender<Option<ExitInfo>>,
}

struct Shim {
    id: String,
    dir: PathBuf,
    cfg: ShimConfig,
    state: RefCell<ContainerState>,
    exit: watch::Sender<Option<ExitInfo>>,
    io: Rc<ProcessIo>,
    /// The child's stdio until `start` hands it to libcontainer.
    child_stdio: RefCell<Option<Stdio>>,
    execs: RefCell<HashMap<String, Rc<Exec>>>,
    next_console: Cell<u32>,
    /// Set by `delete`: the accept loop stops.
    done: watch::Sender<bool>,
    /// Where `delete` moved the state directory; removed after the reply.
    retired: RefCell<Option<PathBuf>>,
    /// The init has been reaped while its output is still being drained:
    /// its pid may already name another process, so nothing is sent to it.
    init_reaped: Cell<bool>,
}

pub async fn run(dir: PathBuf, ready: Option<OwnedFd>) -> Result<(), RuntimeError> {
    let report = |ready: Option<OwnedFd>, msg: &str| {
        if let Some(fd) = ready {
            let _ = nix::unistd::write(&fd, format!("{msg}\n").as_bytes());
        }
    };
    let setup = setup(&dir).await;
    let (shim, listener) = match setup {
        Ok(v) => v,
        Err(e) => {
            report(ready, &format!("error: {e}"));
            return Err(e);
        }
    };
    report(ready, "ok");
    tracing::info!(id = %shim.id, pid = std::process::id(), "shim ready");
    spawn_local(reap(shim.clone()));
    let mut done = shim.done.subscribe();
    let identity = watchdog::identify(&dir)
        .map_err(|e| tracing::error!(error = %e, "cannot stat the control socket: it will not be watched"))
        .ok();
    let mut tick = tokio::time::interval(watchdog::INTERVAL);
    let (mut accept_errors, mut unreachable) = (0u32, 0u32);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => { accept_errors = 0; spawn_local(handle(shim.clone(), stream)); }
                Err(e) => {
                    accept_errors += 1;
                    tracing::warn!(error = %e, accept_errors, "accept on the control socket failed");
                    if accept_errors >= watchdog::MAX_ACCEPT_ERRORS {
                        abandon(&shim, watchdog::Reach::SocketGone, "the control socket keeps failing").await;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = tick.tick(), if identity.is_some() => {
                let reach = identity.as_ref().map_or(watchdog::Reach::Ok, |id| watchdog::check(&dir, id));
                unreachable = if reach == watchdog::Reach::Ok { 0 } else { unreachable + 1 };
                if unreachable >= 2 {
                    abandon(&shim, reach, "the control socket is gone: no engine can reach this shim").await;
                    break;
                }
            }
            _ = done.wait_for(|d| *d) => break,
        }
    }
    // Off the engine's path: the directory was renamed away before the
    // reply, its removal (tens of ms on a busy disk) happens now.
    if let Some(dir) = shim.retired.borrow_mut().take()
        && let Err(e) = std::fs::remove_dir_all(&dir)
    {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the retired state");
    }
    Ok(())
}

/// Stops the container of a shim no engine can reach, and removes its
/// state if it is still this shim's ([`watchdog::Reach::SocketGone`]).
async fn abandon(shim: &Rc<Shim>, reach: watchdog::Reach, why: &str) {
    tracing::error!(id = %shim.id, ?reach, "{why}: killing the container and exiting");
    let kill = |pid: i32| {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    };
    // Our own children (unreaped, so these pids are still ours).
    for e in shim.execs.borrow().values() {
        if e.exit.borrow().is_none() {
            kill(e.pid);
        }
    }
    let running = shim.state.borrow().pid();
    if let Some(pid) = running {
        kill(pid);
        if matches!(*shim.state.borrow(), ContainerState::Paused { .. }) {
            let _ = lc::resume(&shim.id, &shim.dir);
        }
        let mut rx = shim.exit.subscribe();
        if tokio::time::timeout(Duration::from_secs(5), rx.wait_for(Option::is_some)).await.is_err() {
            tracing::warn!(id = %shim.id, "the container did not exit within 5 s of SIGKILL");
        }
    }
    if reach == watchdog::Reach::SocketGone {
        super::teardown::delete_container(&shim.id, &shim.dir);
        if let Err(e) = crate::runtime::leftovers::remove_leftovers(&shim.dir) {
            tracing::warn!(error = %e, "removing the abandoned state");
        }
    }
}

async fn setup(dir: &Path) -> Result<(Rc<Shim>, UnixListener), RuntimeError> {
    let cfg = ShimConfig::load(dir)?;
    std::env::set_current_dir(dir).map_err(RuntimeError::io("enter", dir))?;
    let pid_path = dir.join("shim.pid");
    std::fs::write(&pid_path, std::process::id().to_string()).map_err(RuntimeError::io("write", &pid_path))?;
    let log = match &cfg.log_path {
        Some(path) => Some(LogWriter::open(path, cfg.log_rotation).map_err(RuntimeError::io("open", path))?),
        None => None,
    };
    let io = ProcessIo::new(cfg.tty, log);
    let child_stdio = if cfg.tty {
        Stdio::Console { socket: dir.join("console.sock") }
    } else {
        io.pipes(cfg.open_stdin).map_err(RuntimeError::io("create pipes for", dir))?
    };
    let sock = dir.join("shim.sock");
    let _ = std::fs::remove_file(&sock);
    // Relative bind: the absolute path may exceed sun_path's 108 bytes.
    let listener = UnixListener::bind("shim.sock").map_err(RuntimeError::io("listen on", &sock))?;
    let shim = Rc::new(Shim {
        id: cfg.id.clone(),
        dir: dir.to_path_buf(),
        cfg,
        state: RefCell::new(ContainerState::Created),
        exit: watch::Sender::new(None),
        io,
        child_stdio: RefCell::new(Some(child_stdio)),
        execs: RefCell::new(HashMap::new()),
        next_console: Cell::new(0),
        done: watch::Sender::new(false),
        retired: RefCell::new(None),
        init_reaped: Cell::new(false),
    });
    Ok((shim, listener))
}

/// Collects every exited child: the container's init, execs, and
/// libcontainer's intermediate processes (ignored).
async fn reap(shim: Rc<Shim>) {
    let Ok(mut sigchld) = signal(SignalKind::child()) else {
        tracing::error!("cannot watch SIGCHLD: exits will not be noticed");
        return;
    };
    loop {
        loop {
            let status = match waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL))
            {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(s) => s,
            };
            let (pid, code) = match status {
                WaitStatus::Exited(pid, code) => (pid.as_raw(), code),
                WaitStatus::Signaled(pid, sig, _) => (pid.as_raw(), 128 + sig as i32),
                _ => continue,
            };
            if shim.state.borrow().pid() == Some(pid) {
                shim.init_reaped.set(true);
                spawn_local(finish_container(shim.clone(), code));
                continue;
            }
            let exec = shim.execs.borrow().values().find(|e| e.pid == pid).cloned();
            if let Some(exec) = exec {
                spawn_local(async move {
                    exec.io.drain_and_close().await;
                    exec.exit.send_replace(Some(ExitInfo {
                        code,
                        oom_killed: false,
                        error: None,
                        started_at: Some(exec.started_at),
                        finished_at: SystemTime::now(),
                    }));
                });
            }
        }
        if sigchld.recv().await.is_none() {
            return;
        }
    }
}

async fn finish_container(shim: Rc<Shim>, code: i32) {
    let started_at = match &*shim.state.borrow() {
        ContainerState::Running { started_at, .. } | ContainerState::Paused { started_at, .. } => Some(*started_at),
        _ => None,
    };
    shim.io.drain_and_close().await;
    let exit = ExitInfo {
        code,
        oom_killed: lc::oom_killed(&shim.id),
        error: None,
        started_at,
        finished_at: SystemTime::now(),
    };
    record_exit(&shim, exit);
}

fn record_exit(shim: &Shim, exit: ExitInfo) {
    if let Err(e) = save_exit(&shim.dir, &exit) {
        tracing::error!(error = %e, "cannot record the exit status");
    }
    tracing::info!(id = %shim.id, code = exit.code, oom = exit.oom_killed, "container exited");
    *shim.state.borrow_mut() = ContainerState::Exited(exit.clone());
    shim.exit.send_replace(Some(exit));
}

async fn handle(shim: Rc<Shim>, mut stream: UnixStream) {
    let req = match read_request(&mut stream).await {
        Ok(r) => r,
        Err(e) => {
            let _ = write_reply(&mut stream, &ErrorReply::msg(format!("bad request: {e}"))).await;
            return;
        }
    };
    match req {
        Request::Attach { streams } => {
            let _ = write_reply(&mut stream, &Reply::Attached).await;
            let stdin = (streams.stdin && shim.cfg.open_stdin).then(|| (shim.io.stdin.clone(), shim.cfg.stdin_once));
            wire(stream, shim.io.hub.subscribe(streams), stdin).await;
        }
        Request::Exec { exec, req } => {
            let attach = req.attach;
            match start_exec(&shim, exec, req) {
                Ok((pid, io)) => {
                    // Subscribed before the first await: the pumps cannot
                    // publish (and lose) a fast exec's output before it.
                    let rx = io.hub.subscribe(attach);
                    if write_reply(&mut stream, &Reply::ExecStarted { pid }).await.is_ok() {
                        let stdin = attach.stdin.then(|| (io.stdin.clone(), true));
                        wire(stream, rx, stdin).await;
                    }
                }
                Err(reply) => {
                    let _ = write_reply(&mut stream, &reply).await;
                }
            }
        }
        Request::WaitExit => {
            let mut rx = shim.exit.subscribe();
            let reply = match rx.wait_for(Option::is_some).await {
                Ok(e) => e.clone().map_or_else(|| ErrorReply::msg("no exit"), Reply::Exited),
                Err(_) => ErrorReply::msg("the shim is shutting down"),
            };
            let _ = write_reply(&mut stream, &reply).await;
        }
        Request::ExecWait { exec } => {
            let entry = shim.execs.borrow().get(&exec).cloned();
            let reply = match entry {
                None => ErrorReply::msg(format!("no such exec: {exec}")),
                Some(e) => {
                    let mut rx = e.exit.subscribe();
                    match rx.wait_for(Option::is_some).await {
                        Ok(x) => x.clone().map_or_else(|| ErrorReply::msg("no exit"), Reply::Exited),
                        Err(_) => ErrorReply::msg("the shim is shutting down"),
                    }
                }
            };
            // An exit handed over is the exec's end: the shim forgets it, or
            // a container probed by a health check every second would grow
            // its table forever. (Waiters already waiting still get it.)
            if matches!(reply, Reply::Exited(_)) {
                shim.execs.borrow_mut().remove(&exec);
            }
            let _ = write_reply(&mut stream, &reply).await;
        }
        Request::Delete => {
            let reply = delete(&shim);
            let ok = matches!(reply, Reply::Ok);
            let _ = write_reply(&mut stream, &reply).await;
            if ok {
                let _ = stream.shutdown().await;
                shim.done.send_replace(true);
            }
        }
        other => {
            let reply = simple(&shim, other);
            let _ = write_reply(&mut stream, &reply).await;
        }
    }
}

fn wrong_state(shim: &Shim, message: &str) -> Reply {
    let state = shim.state.borrow().docker_status().to_string();
    Reply::Error(ErrorReply { message: message.to_string(), exec_code: None, wrong_state: Some(state) })
}

/// Requests answered at once.
fn simple(shim: &Rc<Shim>, req: Request) -> Reply {
    match req {
        Request::Hello => Reply::Hello { id: shim.id.clone(), shim_pid: std::process::id() as i32 },
        Request::State => Reply::State(shim.state.borrow().clone()),
        Request::Start => start(shim),
        Request::Kill { signal } => {
            let Some(pid) = shim.state.borrow().pid() else {
                return wrong_state(shim, "container is not running");
            };
            // Exited, its exit not recorded yet: the signal has nothing left
            // to reach (Docker's kill answers success then, too).
            if shim.init_reaped.get() {
                return Reply::Ok;
            }
            let sig = match nix::sys::signal::Signal::try_from(signal) {
                Ok(s) => s,
                Err(_) => return ErrorReply::msg(format!("invalid signal {signal}")),
            };
            if let Err(e) = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
                return ErrorReply::msg(format!("kill: {e}"));
            }
            // A frozen process dies only once thawed.
            if sig == nix::sys::signal::Signal::SIGKILL && matches!(*shim.state.borrow(), ContainerState::Paused { .. })
            {
                let _ = lc::resume(&shim.id, &shim.dir);
            }
            Reply::Ok
        }
        Request::ExecKill { exec, signal } => {
            let running = shim.execs.borrow().get(&exec).filter(|e| e.exit.borrow().is_none()).map(|e| e.pid);
            let Some(pid) = running else {
                return ErrorReply::msg(format!("exec {exec} is not running"));
            };
            match nix::sys::signal::Signal::try_from(signal) {
                Ok(sig) => match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
                    Ok(()) => Reply::Ok,
                    Err(e) => ErrorReply::msg(format!("kill: {e}")),
                },
                Err(_) => ErrorReply::msg(format!("invalid signal {signal}")),
            }
        }
        Request::Resize { exec, width, height } => {
            let pty = match exec {
                None => shim.io.pty.borrow().clone(),
                Some(e) => shim.execs.borrow().get(&e).and_then(|x| x.io.pty.borrow().clone()),
            };
            match pty {
                Some(p) => match set_winsize(p.raw(), width, height) {
                    Ok(()) => Reply::Ok,
                    Err(e) => ErrorReply::msg(format!("resize: {e}")),
                },
                None => ErrorReply::msg("no terminal to resize"),
            }
        }
        Request::Pause => {
            let (pid, started_at) = match &*shim.state.borrow() {
                ContainerState::Running { pid, started_at } => (*pid, *started_at),
                _ => return wrong_state(shim, "container is not running"),
            };
            match lc::pause(&shim.id, &shim.dir) {
                Ok(()) => {
                    *shim.state.borrow_mut() = ContainerState::Paused { pid, started_at };
                    Reply::Ok
                }
                Err(e) => ErrorReply::msg(format!("pause: {e}")),
            }
        }
        Request::Resume => {
            let (pid, started_at) = match &*shim.state.borrow() {
                ContainerState::Paused { pid, started_at } => (*pid, *started_at),
                _ => return wrong_state(shim, "container is not paused"),
            };
            match lc::resume(&shim.id, &shim.dir) {
                Ok(()) => {
                    *shim.state.borrow_mut() = ContainerState::Running { pid, started_at };
                    Reply::Ok
                }
                Err(e) => ErrorReply::msg(format!("resume: {e}")),
            }
        }
        Request::Stats => match shim.state.borrow().pid() {
            None => wrong_state(shim, "container is not running"),
            Some(_) => match lc::stats(&shim.id) {
                Ok(s) => Reply::Stats(Box::new(s)),
                Err(e) => ErrorReply::msg(format!("stats: {e}")),
            },
        },
        Request::Top => match shim.state.borrow().pid() {
            None => wrong_state(shim, "container is not running"),
            Some(_) => match lc::pids(&shim.id) {
                Ok(p) => Reply::Top(p),
                Err(e) => ErrorReply::msg(format!("top: {e}")),
            },
        },
        // Handled in `handle`.
        Request::Attach { .. }
        | Request::Exec { .. }
        | Request::WaitExit
        | Request::ExecWait { .. }
        | Request::Delete => ErrorReply::msg("internal: request routed wrongly"),
    }
}

fn start(shim: &Rc<Shim>) -> Reply {
    if !matches!(*shim.state.borrow(), ContainerState::Created) {
        return wrong_state(shim, "container cannot be started in its state");
    }
    let Some(stdio) = shim.child_stdio.borrow_mut().take() else {
        return wrong_state(shim, "container was already started");
    };
    let console = match &stdio {
        Stdio::Console { socket } => match bind_console(socket) {
            Ok(l) => Some(l),
            Err(e) => return ErrorReply::msg(format!("console socket: {e}")),
        },
        Stdio::Pipes { .. } => None,
    };
    let result = lc::create_and_start(&shim.id, &shim.dir, stdio);
    if let (Some((listener, path)), Ok(_)) = (&console, &result) {
        if let Err(e) = shim.io.take_pty(listener, shim.cfg.console_size, shim.cfg.open_stdin) {
            tracing::error!(error = %e, "no pty from the container");
        }
        let _ = std::fs::remove_file(path);
    }
    match result {
        Ok(pid) => {
            *shim.state.borrow_mut() = ContainerState::Running { pid, started_at: SystemTime::now() };
            tracing::info!(id = %shim.id, pid, "container started");
            Reply::Started { pid }
        }
        Err(StartFailure { message, exec_code }) => {
            tracing::warn!(id = %shim.id, %message, "container did not start");
            let code = exec_code.unwrap_or(128);
            record_exit(
                shim,
                ExitInfo {
                    code,
                    oom_killed: false,
                    error: Some(message.clone()),
                    started_at: None,
                    finished_at: SystemTime::now(),
                },
            );
            let io = shim.io.clone();
            spawn_local(async move { io.drain_and_close().await });
            Reply::Error(ErrorReply { message, exec_code, wrong_state: None })
        }
    }
}

fn bind_console(path: &Path) -> std::io::Result<(StdUnixListener, PathBuf)> {
    let _ = std::fs::remove_file(path);
    let name = path.file_name().map(PathBuf::from).unwrap_or_else(|| path.to_path_buf());
    // Relative to the shim's cwd (its directory): short socket paths.
    Ok((StdUnixListener::bind(&name)?, path.to_path_buf()))
}

fn start_exec(shim: &Rc<Shim>, exec_id: String, req: ExecRequest) -> Result<(i32, Rc<ProcessIo>), Reply> {
    if !matches!(*shim.state.borrow(), ContainerState::Running { .. }) {
        let msg = if matches!(*shim.state.borrow(), ContainerState::Paused { .. }) {
            format!("Container {} is paused, unpause the container before exec", shim.id)
        } else {
            format!("container {} is not running", shim.id)
        };
        return Err(wrong_state(shim, &msg));
    }
    if shim.execs.borrow().contains_key(&exec_id) || exec_id.is_empty() {
        return Err(ErrorReply::msg(format!("exec {exec_id:?} already exists")));
    }
    if req.cmd.is_empty() {
        return Err(ErrorReply::msg("no exec command specified"));
    }
    let spec = exec_spec(shim, &req).map_err(ErrorReply::msg)?;
    let io = ProcessIo::new(req.tty, None);
    let (stdio, console) = if req.tty {
        let n = shim.next_console.get();
        shim.next_console.set(n + 1);
        let path = shim.dir.join(format!("e{n}.sock"));
        let l = bind_console(&path).map_err(|e| ErrorReply::msg(format!("console socket: {e}")))?;
        (Stdio::Console { socket: path }, Some(l))
    } else {
        (io.pipes(req.attach.stdin).map_err(|e| ErrorReply::msg(format!("pipes: {e}")))?, None)
    };
    let result = lc::exec(&shim.id, &shim.dir, stdio, spec);
    if let Some((listener, path)) = &console {
        if result.is_ok()
            && let Err(e) = io.take_pty(listener, req.console_size, req.attach.stdin)
        {
            tracing::error!(error = %e, "no pty from the exec");
        }
        let _ = std::fs::remove_file(path);
    }
    let pid = result
        .map_err(|f| Reply::Error(ErrorReply { message: f.message, exec_code: f.exec_code, wrong_state: None }))?;
    let entry = Rc::new(Exec { pid, started_at: SystemTime::now(), io: io.clone(), exit: watch::Sender::new(None) });
    shim.execs.borrow_mut().insert(exec_id, entry);
    Ok((pid, io))
}

fn exec_spec(shim: &Shim, req: &ExecRequest) -> Result<lc::ExecSpec, String> {
    let config: serde_json::Value = std::fs::read(shim.dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("the container's config.json is unreadable")?;
    let (uid, gid, additional_gids) = if req.user.is_empty() {
        let u = &config["process"]["user"];
        let ids =
            u["additionalGids"].as_array().map(|a| a.iter().filter_map(|v| v.as_u64()).map(|v| v as u32).collect());
        (u["uid"].as_u64().unwrap_or(0) as u32, u["gid"].as_u64().unwrap_or(0) as u32, ids.unwrap_or_default())
    } else {
        let u = crate::runtime::spec::user::resolve(&shim.dir.join("rootfs"), &req.user).map_err(|e| e.to_string())?;
        (u.uid, u.gid, u.additional_gids)
    };
    let mut env = HashMap::new();
    for kv in &req.env {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        env.insert(k.to_string(), v.to_string());
    }
    if req.tty
        && !config["process"]["env"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e.as_str().is_some_and(|s| s.starts_with("TERM="))))
    {
        env.entry("TERM".into()).or_insert_with(|| "xterm".into());
    }
    let cwd = if req.workdir.is_empty() {
        config["process"]["cwd"].as_str().map(PathBuf::from)
    } else {
        Some(PathBuf::from(&req.workdir))
    };
    Ok(lc::ExecSpec {
        args: req.cmd.clone(),
        env,
        cwd,
        uid,
        gid,
        additional_gids,
        capabilities: req.privileged.then(crate::runtime::spec::defaults::all_caps),
    })
}

fn delete(shim: &Rc<Shim>) -> Reply {
    if matches!(*shim.state.borrow(), ContainerState::Running { .. } | ContainerState::Paused { .. }) {
        return wrong_state(shim, "cannot delete a running container: stop or kill it first");
    }
    super::teardown::delete_container(&shim.id, &shim.dir);
    match crate::runtime::leftovers::retire(&shim.dir) {
        Ok(retired) => {
            *shim.retired.borrow_mut() = retired;
            Reply::Ok
        }
        Err(e) => ErrorReply::msg(format!("delete: {e}")),
    }
}

/// Connects a client connection to a process's streams: output (already
/// framed by the hub) to the client, the client's bytes to stdin; the
/// client's half-close closes stdin when `close_stdin_on_eof`.
async fn wire(stream: UnixStream, rx: Option<mpsc::Receiver<Vec<u8>>>, stdin: Option<(Rc<StdinSink>, bool)>) {
    let (mut rd, mut wr) = stream.into_split();
    if let Some((sink, close_on_eof)) = stdin {
        spawn_local(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        if close_on_eof {
                            sink.close();
                        }
                        break;
                    }
                    Ok(n) => {
                        if sink.write(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    if let Some(mut rx) = rx {
        while let Some(chunk) = rx.recv().await {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
    }
    let _ = wr.shutdown().await;
}

async fn read_request(stream: &mut UnixStream) -> std::io::Result<Request> {
    let mut buf = Vec::with_capacity(256);
    loop {
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
        if byte[0] == b'\n' {
            break;
        }
        if buf.len() >= MAX_LINE {
            return Err(std::io::Error::other("request line too long"));
        }
        buf.push(byte[0]);
    }
    serde_json::from_slice(&buf).map_err(std::io::Error::other)
}

async fn write_reply(stream: &mut UnixStream, reply: &Reply) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line).await
}
