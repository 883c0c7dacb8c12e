//! Operations that report as they go (pull, push, load): the work runs on
//! its own task and its messages are read as they come.
//!
//! Owns the rule that decides how a failure reaches the client: until the
//! first message, the operation is undecided — work that fails before
//! saying anything fails the call (a plain HTTP error, which docker-py and
//! `docker pull` rely on); once messages flowed, the failure is the last
//! item read. A `load` streams from the start, its failures included, as
//! Docker's does. It must never speak HTTP nor drop a failure.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::EngineError;

/// A running operation's messages, then its failure if it failed.
pub struct Transfer<T> {
    first: Option<T>,
    messages: mpsc::UnboundedReceiver<T>,
    job: Option<JoinHandle<Result<(), EngineError>>>,
}

impl<T: Send + 'static> Transfer<T> {
    /// Spawns `work`, which sends on the sender of `messages` (and drops it
    /// when done), and returns once it said something or ended.
    pub(super) async fn start(
        mut messages: mpsc::UnboundedReceiver<T>,
        work: impl Future<Output = Result<(), EngineError>> + Send + 'static,
    ) -> Result<Transfer<T>, EngineError> {
        let job = tokio::spawn(work);
        match messages.recv().await {
            Some(first) => Ok(Transfer { first: Some(first), messages, job: Some(job) }),
            // The work ended (and dropped its sender) silently.
            None => {
                job.await??;
                Ok(Transfer { first: None, messages, job: None })
            }
        }
    }

    /// Spawns `work` and returns at once: every failure, even one before
    /// any message, is the last item read. Docker's `load` answers so (200,
    /// then the error in the stream; docker-py raises `ImageLoadError`
    /// from it).
    pub(super) fn start_streaming(
        messages: mpsc::UnboundedReceiver<T>,
        work: impl Future<Output = Result<(), EngineError>> + Send + 'static,
    ) -> Transfer<T> {
        Transfer { first: None, messages, job: Some(tokio::spawn(work)) }
    }

    /// The next message; after the last one, the failure that ended the
    /// work if it failed; then `None`.
    pub async fn next(&mut self) -> Option<Result<T, EngineError>> {
        if let Some(first) = self.first.take() {
            return Some(Ok(first));
        }
        if let Some(m) = self.messages.recv().await {
            return Some(Ok(m));
        }
        match self.job.take()?.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(Err(e)),
            Err(e) => Some(Err(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failure_before_any_message_fails_the_start() {
        let (_tx, rx) = mpsc::unbounded_channel::<u32>();
        drop(_tx);
        let e = Transfer::start(rx, async { Err(EngineError::not_found("nothing here")) }).await.err().unwrap();
        assert_eq!(e.to_string(), "nothing here");
    }

    #[tokio::test]
    async fn a_failure_after_messages_is_the_last_item() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut t = Transfer::start(rx, async move {
            tx.send(1).ok();
            tx.send(2).ok();
            Err(EngineError::invalid("broke"))
        })
        .await
        .unwrap();
        assert_eq!(t.next().await.unwrap().unwrap(), 1);
        assert_eq!(t.next().await.unwrap().unwrap(), 2);
        assert_eq!(t.next().await.unwrap().unwrap_err().to_string(), "broke");
        assert!(t.next().await.is_none());
    }

    #[tokio::test]
    async fn a_streaming_start_reports_even_the_first_failure_as_an_item() {
        let (tx, rx) = mpsc::unbounded_channel::<u32>();
        let mut t = Transfer::start_streaming(rx, async move {
            drop(tx);
            Err(EngineError::invalid("not an archive"))
        });
        assert_eq!(t.next().await.unwrap().unwrap_err().to_string(), "not an archive");
        assert!(t.next().await.is_none());
    }

    #[tokio::test]
    async fn silent_success_is_an_empty_transfer() {
        let (tx, rx) = mpsc::unbounded_channel::<u32>();
        let mut t = Transfer::start(rx, async move {
            drop(tx);
            Ok(())
        })
        .await
        .unwrap();
        assert!(t.next().await.is_none());
    }
}
