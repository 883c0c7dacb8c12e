//! How to run the outer VM of the test bed: its size, its time limit, and
//! whether a run it lost is tried once more.

use std::time::Duration;

/// How to run the outer VM.
#[derive(Debug, Clone)]
pub struct Options {
    /// Guest memory as QEMU takes it (`2G`, `4096M`).
    pub memory: String,
    pub cpus: u32,
    /// Size of the sparse scratch disk that holds the writable root.
    pub disk_gib: u64,
    pub timeout: Duration,
    /// Stream the console to stdout as it arrives.
    pub echo: bool,
    /// Run the command once more, in a fresh test bed, when the outer VM
    /// lost the run: the command outlived `timeout`, or the VM ended
    /// without its exit status. For the e2e suites: now and then the
    /// nested test bed stops making progress after boot (both of QEMU's
    /// TCG threads busy, nothing inside advancing, no soft-lockup report)
    /// or resets itself, and the same command then passes in a fresh one.
    /// A hang of berth's own repeats and still fails. Also once for a
    /// failed run in which a nested guest triple-faulted (seen under
    /// heavy guest I/O with either VMM on top, issue 21); the retry is
    /// said at the top of the console the caller gets.
    pub retry_lost_runs: bool,
}

impl Options {
    /// An e2e suite's run: the console kept for the test's assertions (not
    /// echoed), a run the test bed lost retried once, `timeout` at most.
    pub fn suite(timeout: Duration) -> Self {
        Options { echo: false, timeout, retry_lost_runs: true, ..Options::default() }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            memory: "2G".into(),
            cpus: 2,
            disk_gib: 8,
            timeout: Duration::from_secs(3600),
            echo: true,
            retry_lost_runs: false,
        }
    }
}
