//! Progress of pulls and pushes as Docker's JSON-lines events (`status`,
//! `id`, `progressDetail`), sent over a channel so the API can stream them
//! to a client while the work goes on.
//!
//! Owns the event shape only. It must never block the work it reports on:
//! events are sent on an unbounded channel and dropped if nobody listens.

use tokio::sync::mpsc;

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// One JSON line of a pull or push reply, as the docker CLI renders it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProgressEvent {
    /// Empty only on push's final `aux` line, where Docker sends none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// The short layer ID (12 hex digits) or the tag the line is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    /// Push's final `{"Tag","Digest","Size"}` record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl ProgressEvent {
    pub fn status(status: impl Into<String>) -> Self {
        ProgressEvent { status: status.into(), id: None, progress_detail: None, aux: None }
    }

    /// A per-layer line; Docker sends an empty `progressDetail` with these.
    pub fn layer(status: impl Into<String>, id: impl Into<String>) -> Self {
        ProgressEvent { id: Some(id.into()), progress_detail: Some(ProgressDetail::default()), ..Self::status(status) }
    }

    pub fn bytes(status: impl Into<String>, id: impl Into<String>, current: u64, total: Option<u64>) -> Self {
        ProgressEvent {
            progress_detail: Some(ProgressDetail { current: Some(current), total }),
            ..Self::layer(status, id)
        }
    }
}

/// Where events go; `Progress::default()` discards them.
#[derive(Clone, Default)]
pub struct Progress(Option<mpsc::UnboundedSender<ProgressEvent>>);

impl Progress {
    pub fn channel() -> (Progress, mpsc::UnboundedReceiver<ProgressEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Progress(Some(tx)), rx)
    }

    pub fn emit(&self, ev: ProgressEvent) {
        if let Some(tx) = &self.0 {
            // A client that went away must not fail the pull.
            let _ = tx.send(ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_like_docker() {
        let v = serde_json::to_value(ProgressEvent::bytes("Downloading", "0123456789ab", 5, Some(10))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"status":"Downloading","id":"0123456789ab","progressDetail":{"current":5,"total":10}})
        );
        let v = serde_json::to_value(ProgressEvent::status("Digest: sha256:x")).unwrap();
        assert_eq!(v, serde_json::json!({"status":"Digest: sha256:x"}));
        assert_eq!(
            serde_json::to_value(ProgressEvent::layer("Pull complete", "ab")).unwrap(),
            serde_json::json!({"status":"Pull complete","id":"ab","progressDetail":{}})
        );
    }

    #[test]
    fn a_dropped_receiver_does_not_fail_the_sender() {
        let (p, rx) = Progress::channel();
        drop(rx);
        p.emit(ProgressEvent::status("still fine"));
        Progress::default().emit(ProgressEvent::status("discarded"));
    }
}
