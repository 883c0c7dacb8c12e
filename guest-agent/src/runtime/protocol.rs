//! The shim's control protocol: one JSON line request, one JSON line reply
//! per connection. Attach and exec then keep the connection as a byte
//! stream (shim → client: output, client → shim: stdin; a half-close is
//! stdin EOF).
//!
//! Shared by the shim (server) and the engine's [`super::Shim`] (client):
//! changing a variant changes both sides at once, and since shims outlive
//! engines, only add variants.

use serde::{Deserialize, Serialize};

use super::{AttachStreams, CgroupStats, ContainerState, ExecRequest, ExitInfo};

/// The longest request or reply line either side accepts.
pub const MAX_LINE: usize = 1 << 20;

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Liveness and identity: replies `Hello`.
    Hello,
    State,
    Start,
    Kill {
        signal: i32,
    },
    /// Replies when the container has exited (at once if it has).
    WaitExit,
    /// The connection becomes the container's stdio stream.
    Attach {
        streams: AttachStreams,
    },
    Resize {
        exec: Option<String>,
        width: u16,
        height: u16,
    },
    Pause,
    Resume,
    /// Starts a process in the container; the connection becomes its stdio.
    Exec {
        exec: String,
        req: ExecRequest,
    },
    ExecWait {
        exec: String,
    },
    /// Sends a signal to an exec's process (a health check past its
    /// timeout). Added after the others: older shims answer it with an error.
    ExecKill {
        exec: String,
        signal: i32,
    },
    Stats,
    Top,
    /// After exit: tears everything down; the shim exits after replying.
    Delete,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    Hello { id: String, shim_pid: i32 },
    Ok,
    State(ContainerState),
    Started { pid: i32 },
    Exited(ExitInfo),
    Attached,
    ExecStarted { pid: i32 },
    Stats(Box<CgroupStats>),
    Top(Vec<i32>),
    Error(ErrorReply),
}

/// A failure as the shim reports it: `exec_code` is set when the
/// entrypoint or an exec's command could not be executed (126/127).
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorReply {
    pub message: String,
    pub exec_code: Option<i32>,
    /// The state name when the request did not fit the state.
    pub wrong_state: Option<String>,
}

impl ErrorReply {
    pub fn msg(message: impl Into<String>) -> Reply {
        Reply::Error(ErrorReply { message: message.into(), exec_code: None, wrong_state: None })
    }
}
