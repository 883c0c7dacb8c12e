//! Telling the developer what a long task is doing: a spinner with the
//! elapsed time on a terminal, one plain line per step otherwise (CI logs).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Runs `work`, showing `what` while it runs and how long it took after.
pub fn step<T, E>(what: &str, work: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let started = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
            bar.set_style(style);
        }
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    if bar.is_none() {
        eprintln!("xtask: {what} ...");
    }
    let result = work();
    let took = started.elapsed().as_secs_f64();
    let verdict = if result.is_ok() { "done" } else { "failed" };
    match bar {
        Some(bar) => bar.finish_with_message(format!("{what}: {verdict} in {took:.1} s")),
        None => eprintln!("xtask: {what}: {verdict} in {took:.1} s"),
    }
    result
}
