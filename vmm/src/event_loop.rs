//! The device thread: one epoll loop (event-manager) that runs every
//! virtio device's queue and backend handling. Devices subscribe before the
//! loop starts; the loop runs until the VM is stopping. Nothing on this
//! thread may block: every fd it waits on is non-blocking.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};

use crate::exit::{ExitSignal, VmExit};
use crate::seccomp::{self, ThreadFilters};

/// A subscriber as the loop holds it: shared with the transport that
/// activates it.
pub type Subscriber = Arc<Mutex<dyn MutEventSubscriber + Send>>;

/// How often the loop looks at the stop flag when no event arrives.
const STOP_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum EventLoopError {
    #[error("cannot create the device event loop: {0:?}")]
    Create(event_manager::Error),
    #[error("cannot start the device thread: {0}")]
    Spawn(std::io::Error),
}

/// The running device thread.
pub struct EventLoop {
    thread: JoinHandle<()>,
}

impl EventLoop {
    /// Starts the loop with `subscribers`, under `filters`;
    /// it ends when `stopping` is set.
    pub fn start(
        subscribers: Vec<Subscriber>,
        exit: Arc<ExitSignal>,
        stopping: Arc<AtomicBool>,
        filters: ThreadFilters,
    ) -> Result<Self, EventLoopError> {
        let mut manager: EventManager<Subscriber> = EventManager::new().map_err(EventLoopError::Create)?;
        for s in subscribers {
            manager.add_subscriber(s);
        }
        let thread = std::thread::Builder::new()
            .name("devices".into())
            .spawn(move || {
                if let Err(e) = seccomp::install(&filters) {
                    exit.post(VmExit::VmmError(format!("device thread: {e}")));
                    return;
                }
                while !stopping.load(Ordering::Acquire) {
                    if let Err(e) = manager.run_with_timeout(STOP_POLL.as_millis() as i32) {
                        exit.post(VmExit::VmmError(format!("device event loop failed: {e:?}")));
                        break;
                    }
                }
            })
            .map_err(EventLoopError::Spawn)?;
        Ok(EventLoop { thread })
    }

    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("device thread panicked");
        }
    }
}
