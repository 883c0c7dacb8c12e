//! Streaming response bodies fed by a channel: logs, events, stats and
//! archives are produced by a task and sent as they come.

/// An mpsc receiver as a stream: ends when every sender is gone.
pub fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}
