//! The engine's table of containers: lookup by ID, ID prefix or name, name
//! reservation, and each container's live parts (its shim handle, the
//! watch channel that `wait` and `logs -f` follow).
//!
//! Owns the uniqueness of names and IDs, under one lock. It must never
//! hold that lock across an await, nor call the runtime: lifecycle
//! operations live in `lifecycle.rs` and only use this table.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::error::ContainerError;
use super::events::EventBus;
use super::exec::Exec;
use super::health::HealthMonitor;
use super::record::ContainerRecord;
use super::restart::Backoff;
use crate::image::store::Store;
use crate::runtime::{Runtime, Shim};
use crate::unpoisoned::lock;

/// What waiters watch: how many times the container exited, whether it
/// runs, and whether it is gone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Life {
    pub exits: u64,
    pub running: bool,
    pub exit_code: i64,
    pub error: Option<String>,
    pub removed: bool,
    /// How many times it was started: tells an exit monitor whether its
    /// run is still the current one.
    pub starts: u64,
}

pub struct Container {
    pub id: String,
    pub(super) rec: Mutex<ContainerRecord>,
    pub(super) shim: Mutex<Option<Shim>>,
    pub(super) life: watch::Sender<Life>,
    /// Serializes start/stop/restart/remove of this container; never held
    /// while waiting on anything but the container's own exit.
    pub(super) op: tokio::sync::Mutex<()>,
    pub(super) backoff: Mutex<Backoff>,
    /// IDs of execs created in this container (inspect's `ExecIDs`).
    pub(super) exec_ids: Mutex<Vec<String>>,
    /// The health-check monitor of the current run, if it has one (see
    /// `health_monitor`). Locked before `rec` when both are.
    pub(super) health: Mutex<Option<HealthMonitor>>,
    /// A removal is under way (moby's RemovalInProgress): set before it
    /// waits for `op`, so a second `DELETE` is refused at once.
    pub(super) removing: std::sync::atomic::AtomicBool,
    /// `docker update` changed the limits of a created container whose
    /// shim holds the spec of the create: its start applies them.
    pub(super) limits_pending: std::sync::atomic::AtomicBool,
}

impl Container {
    pub(super) fn new(rec: ContainerRecord) -> Arc<Container> {
        let life =
            Life { running: rec.state.status.is_running(), exit_code: rec.state.exit_code, ..Default::default() };
        Arc::new(Container {
            id: rec.id.clone(),
            rec: Mutex::new(rec),
            shim: Mutex::new(None),
            life: watch::Sender::new(life),
            op: tokio::sync::Mutex::new(()),
            backoff: Mutex::new(Backoff::default()),
            exec_ids: Mutex::new(Vec::new()),
            health: Mutex::new(None),
            removing: std::sync::atomic::AtomicBool::new(false),
            limits_pending: Default::default(),
        })
    }

    /// Has a live process (running, paused or restarting).
    pub fn is_running(&self) -> bool {
        lock(&self.rec).state.status.is_running()
    }

    /// A copy of the record as it is now.
    pub fn record(&self) -> ContainerRecord {
        lock(&self.rec).clone()
    }

    pub fn shim(&self) -> Option<Shim> {
        lock(&self.shim).clone()
    }

    pub fn life(&self) -> watch::Receiver<Life> {
        self.life.subscribe()
    }

    pub fn exec_ids(&self) -> Vec<String> {
        lock(&self.exec_ids).clone()
    }

    /// A `bool` "still running" channel for the log follower.
    pub fn running_watch(&self) -> watch::Receiver<bool> {
        let mut life = self.life.subscribe();
        let (tx, rx) = watch::channel(life.borrow().running);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    r = life.changed() => {
                        if r.is_err() {
                            tx.send_replace(false);
                            return;
                        }
                        let running = life.borrow().running && !life.borrow().removed;
                        tx.send_replace(running);
                    }
                    () = tx.closed() => return,
                }
            }
        });
        rx
    }
}

#[derive(Default)]
struct Table {
    by_id: BTreeMap<String, Arc<Container>>,
    /// name (no slash) → ID.
    names: HashMap<String, String>,
}

pub struct Containers {
    /// `<engine root>/containers`: one directory per container.
    pub root: PathBuf,
    pub images: Arc<Store>,
    pub runtime: Runtime,
    pub events: EventBus,
    table: Mutex<Table>,
    pub(super) execs: Mutex<HashMap<String, Arc<Exec>>>,
    /// Where the engine keeps containers' network namespaces (one file per
    /// container, named by its id) when it configures networks itself;
    /// unset, each container gets a new namespace with loopback only.
    pub netns_dir: std::sync::OnceLock<PathBuf>,
    /// Told of every `--rm` container this domain removed on its own (the
    /// engine drops its anonymous volumes).
    pub(super) auto_removed: std::sync::OnceLock<AutoRemoved>,
    /// A container's addresses in its networks (set by the engine when it
    /// configures networks), for the container's own line in `/etc/hosts`.
    pub addresses_of: std::sync::OnceLock<AddressesOf>,
    /// What `--add-host NAME:host-gateway` names: the user's host through
    /// a machine's uplink; unset, Docker's default bridge gateway.
    pub host_gateway: std::sync::OnceLock<std::net::Ipv4Addr>,
}

/// See [`Containers::addresses_of`].
pub type AddressesOf = Box<dyn Fn(&str) -> Vec<std::net::Ipv4Addr> + Send + Sync>;

/// See [`Containers::on_auto_removed`].
pub type AutoRemoved = Box<dyn Fn(&super::record::ContainerRecord) + Send + Sync>;

impl Containers {
    pub(super) fn new(root: PathBuf, images: Arc<Store>, runtime: Runtime) -> Containers {
        Containers {
            root,
            images,
            runtime,
            events: EventBus::default(),
            table: Mutex::new(Table::default()),
            execs: Mutex::new(HashMap::new()),
            netns_dir: std::sync::OnceLock::new(),
            auto_removed: std::sync::OnceLock::new(),
            addresses_of: std::sync::OnceLock::new(),
            host_gateway: std::sync::OnceLock::new(),
        }
    }

    /// Sets what is told of each removed `--rm` container (once).
    pub fn on_auto_removed(&self, f: AutoRemoved) {
        if self.auto_removed.set(f).is_err() {
            tracing::warn!("the auto-removal hook was set twice; the first is kept");
        }
    }

    /// Finds a container as Docker does: full ID, then exact name (with or
    /// without the `/`), then a unique ID prefix.
    pub fn get(&self, key: &str) -> Result<Arc<Container>, ContainerError> {
        let t = lock(&self.table);
        let not_found = || ContainerError::NotFound(key.to_string());
        if key.is_empty() {
            return Err(not_found());
        }
        if let Some(c) = t.by_id.get(key) {
            return Ok(c.clone());
        }
        let name = super::names::bare(key);
        if let Some(c) = t.names.get(name).and_then(|id| t.by_id.get(id)) {
            return Ok(c.clone());
        }
        if !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let mut hits = t.by_id.range(key.to_string()..).take_while(|(id, _)| id.starts_with(key));
        match (hits.next(), hits.next()) {
            (Some((_, c)), None) => Ok(c.clone()),
            (Some(_), Some(_)) => {
                Err(ContainerError::Invalid(format!("multiple IDs found with provided prefix: {key}")))
            }
            _ => Err(not_found()),
        }
    }

    /// Every container, oldest first.
    pub fn all(&self) -> Vec<Arc<Container>> {
        let t = lock(&self.table);
        let mut v: Vec<_> = t.by_id.values().cloned().collect();
        drop(t);
        v.sort_by_cached_key(|c| lock(&c.rec).created.clone());
        v
    }

    /// Adds a container, reserving its name; a taken name is Docker's 409.
    pub(super) fn insert(&self, c: Arc<Container>) -> Result<(), ContainerError> {
        let name = lock(&c.rec).name.clone();
        let mut t = lock(&self.table);
        if let Some(other) = t.names.get(&name) {
            return Err(ContainerError::NameConflict { name, id: other.clone() });
        }
        t.names.insert(name, c.id.clone());
        t.by_id.insert(c.id.clone(), c);
        Ok(())
    }

    pub(super) fn remove_entry(&self, id: &str) {
        let mut t = lock(&self.table);
        t.by_id.remove(id);
        t.names.retain(|_, v| v != id);
    }

    pub(super) fn name_taken(&self, name: &str) -> bool {
        lock(&self.table).names.contains_key(name)
    }

    /// Moves a name; the new one must be free.
    pub(super) fn rename_entry(&self, id: &str, old: &str, new: &str) -> Result<(), ContainerError> {
        let mut t = lock(&self.table);
        if let Some(other) = t.names.get(new) {
            return Err(ContainerError::NameConflict { name: new.to_string(), id: other.clone() });
        }
        t.names.remove(old);
        t.names.insert(new.to_string(), id.to_string());
        Ok(())
    }

    pub fn exec(&self, id: &str) -> Result<Arc<Exec>, ContainerError> {
        lock(&self.execs).get(id).cloned().ok_or_else(|| ContainerError::NoSuchExec(id.to_string()))
    }
}

/// The image store's hook: which containers use which image, so that
/// `DELETE /images` answers 409 and prune and GC spare those images. Weak,
/// because the containers hold the store: a strong cycle would keep the
/// store (and its lock on the engine root) alive forever.
pub struct ImageUsersHook(pub std::sync::Weak<Containers>);

impl crate::image::users::ImageUsers for ImageUsersHook {
    fn image_users(&self) -> Vec<crate::image::users::ImageUse> {
        self.0.upgrade().map(|c| c.image_users()).unwrap_or_default()
    }
}

impl Containers {
    fn image_users(&self) -> Vec<crate::image::users::ImageUse> {
        let t = lock(&self.table);
        t.by_id
            .values()
            .filter_map(|c| {
                let r = lock(&c.rec);
                let image = crate::image::digest::Digest::parse(&r.image_id).ok()?;
                Some(crate::image::users::ImageUse {
                    image,
                    container: c.id.clone(),
                    running: r.state.status.is_running(),
                })
            })
            .collect()
    }
}
