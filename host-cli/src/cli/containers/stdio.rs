//! The client end of an attached stream (run, start -a, exec): output
//! frames to this process's stdout/stderr, stdin to the container (EOF
//! sent as a half-close), and the terminal in raw mode while a TTY is
//! attached. Owns no container state.

use std::io::Write;
use std::os::fd::AsFd;
use std::pin::Pin;

use bollard::container::LogOutput;
use futures_util::{Stream, StreamExt};
use nix::sys::termios::{self, SetArg, Termios};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Puts the terminal on stdin into raw mode and restores it on drop.
pub struct RawTerminal {
    saved: Option<Termios>,
}

impl RawTerminal {
    /// Raw mode only if stdin is a terminal; otherwise nothing changes.
    pub fn enter() -> RawTerminal {
        let stdin = std::io::stdin();
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else { return RawTerminal { saved: None } };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        if termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).is_err() {
            return RawTerminal { saved: None };
        }
        RawTerminal { saved: Some(saved) }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// The size of the terminal on stdout, as (rows, columns).
pub fn terminal_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we pass.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

pub type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;
pub type Input = Pin<Box<dyn AsyncWrite + Send>>;

/// Copies stdin to the container until EOF, then half-closes.
pub fn forward_stdin(mut input: Input) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if input.write_all(&buf[..n]).await.is_err() || input.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = input.shutdown().await;
    })
}

/// Writes the output frames until the stream ends.
pub async fn pump_output(mut output: Output) -> Result<(), bollard::errors::Error> {
    while let Some(frame) = output.next().await {
        match frame? {
            LogOutput::StdErr { message } => {
                let mut e = std::io::stderr().lock();
                let _ = e.write_all(&message);
                let _ = e.flush();
            }
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                let mut o = std::io::stdout().lock();
                if o.write_all(&message).and_then(|()| o.flush()).is_err() {
                    // stdout closed (e.g. `| head`): stop reading, as docker does.
                    return Ok(());
                }
            }
            LogOutput::StdIn { .. } => {}
        }
    }
    Ok(())
}
