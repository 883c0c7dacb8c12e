//! Renders the JSON-lines progress of pull, push and load: one indicatif
//! bar per layer when the output is a terminal, Docker's plain
//! `ID: Status` lines otherwise (one per change, not per byte).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One progress message, whatever API produced it.
#[derive(Debug, Default, Clone)]
pub struct Message {
    pub id: Option<String>,
    pub status: Option<String>,
    pub stream: Option<String>,
    pub current: Option<i64>,
    pub total: Option<i64>,
}

/// Where progress goes.
pub enum Sink {
    Bars { multi: MultiProgress, bars: HashMap<String, ProgressBar>, stderr: bool },
    Plain { last: HashMap<String, String>, stderr: bool },
    Quiet,
}

impl Sink {
    /// Bars if the chosen stream is a terminal; plain lines otherwise.
    pub fn new(stderr: bool, quiet: bool) -> Sink {
        if quiet {
            return Sink::Quiet;
        }
        let tty = if stderr { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
        if tty {
            let target = if stderr { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::stdout() };
            Sink::Bars { multi: MultiProgress::with_draw_target(target), bars: HashMap::new(), stderr }
        } else {
            Sink::Plain { last: HashMap::new(), stderr }
        }
    }

    fn print(stderr: bool, line: &str) {
        if stderr {
            let _ = writeln!(std::io::stderr(), "{line}");
        } else {
            let _ = writeln!(std::io::stdout(), "{line}");
        }
    }

    pub fn show(&mut self, m: &Message) {
        match self {
            Sink::Quiet => {}
            Sink::Plain { last, stderr } => {
                if let Some(s) = &m.stream {
                    let s = s.trim_end_matches('\n');
                    if !s.is_empty() {
                        Self::print(*stderr, s);
                    }
                    return;
                }
                let Some(status) = &m.status else { return };
                match &m.id {
                    Some(id) => {
                        // One line per change of a layer's status.
                        if last.get(id) != Some(status) {
                            last.insert(id.clone(), status.clone());
                            Self::print(*stderr, &format!("{id}: {status}"));
                        }
                    }
                    None => Self::print(*stderr, status),
                }
            }
            Sink::Bars { multi, bars, stderr } => {
                let text = m.stream.as_deref().map(|s| s.trim_end().to_string()).or_else(|| m.status.clone());
                let Some(text) = text.filter(|t| !t.is_empty()) else { return };
                let Some(id) = &m.id else {
                    let _ = multi.println(&text);
                    let _ = stderr;
                    return;
                };
                let bar = bars.entry(id.clone()).or_insert_with(|| {
                    let b = multi.add(ProgressBar::new(0));
                    b.set_style(
                        ProgressStyle::with_template("{prefix}: {msg:<18} {bar:30} {bytes:>10}/{total_bytes}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b.set_prefix(id.clone());
                    b
                });
                if let (Some(cur), Some(total)) = (m.current, m.total)
                    && total > 0
                {
                    bar.set_length(total as u64);
                    bar.set_position(cur.max(0) as u64);
                }
                bar.set_message(text);
                if matches!(
                    m.status.as_deref(),
                    Some("Pull complete" | "Pushed" | "Already exists" | "Layer already exists")
                ) {
                    bar.finish();
                }
            }
        }
    }

    /// Finishes every bar so the terminal is left clean.
    pub fn finish(&mut self) {
        if let Sink::Bars { bars, .. } = self {
            for b in bars.values() {
                if !b.is_finished() {
                    b.finish();
                }
            }
        }
    }
}
