//! What `berth build` shows while the engine builds: on a terminal, one
//! spinner line naming the step under way (`Step 3/7 : RUN make`) with its
//! time so far, and every line the build printed scrolled above it; on
//! anything else, the build's lines exactly as the engine sent them (what
//! a log or a script reads, the same as `docker build` prints); nothing
//! with `-q`.
//!
//! Owns the rendering only; it must never change what the lines say.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where the build's output goes.
pub enum BuildOutput {
    /// A terminal: the spinner, and the lines above it.
    Spinner { bar: ProgressBar, partial: String },
    /// Not a terminal: the text as it came.
    Plain,
    /// `-q`: nothing until the ID.
    Quiet,
}

impl BuildOutput {
    /// The spinner when stdout is a terminal, plain text otherwise.
    pub fn new(quiet: bool, context_bytes: usize) -> BuildOutput {
        if quiet {
            return BuildOutput::Quiet;
        }
        let size = docker_vocab::units::human_size(context_bytes as f64);
        if !std::io::stdout().is_terminal() {
            println!("Sending build context to the engine  {size}");
            return BuildOutput::Plain;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed:>4}] {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message(format!("Sending build context to the engine  {size}"));
        BuildOutput::Spinner { bar, partial: String::new() }
    }

    /// One `stream` text of the build: a step's header moves the spinner
    /// on; whole lines go above it (a line may come in pieces).
    pub fn stream(&mut self, text: &str) {
        match self {
            BuildOutput::Quiet => {}
            BuildOutput::Plain => {
                print!("{text}");
                let _ = std::io::stdout().flush();
            }
            BuildOutput::Spinner { bar, partial } => {
                partial.push_str(text);
                while let Some(end) = partial.find('\n') {
                    let line: String = partial.drain(..=end).collect();
                    let line = line.trim_end_matches(['\n', '\r']);
                    if line.starts_with("Step ") {
                        bar.reset_elapsed();
                        bar.set_message(line.to_string());
                    }
                    bar.println(line);
                }
            }
        }
    }

    /// The build ended (either way): the spinner goes, a partial line is
    /// printed.
    pub fn finish(&mut self) {
        if let BuildOutput::Spinner { bar, partial } = self {
            bar.finish_and_clear();
            if !partial.is_empty() {
                println!("{partial}");
                partial.clear();
            }
        }
    }
}

impl Drop for BuildOutput {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_in_pieces_are_shown_whole_and_a_step_moves_the_spinner() {
        let bar = ProgressBar::hidden();
        let mut out = BuildOutput::Spinner { bar: bar.clone(), partial: String::new() };
        out.stream("Step 1/2 : FROM busybox\n ---> 1234");
        out.stream("5678\nStep 2/2 : RUN ec");
        assert_eq!(bar.message(), "Step 1/2 : FROM busybox");
        out.stream("ho hi\n");
        assert_eq!(bar.message(), "Step 2/2 : RUN echo hi");
        out.stream("no newline");
        let BuildOutput::Spinner { partial, .. } = &out else { unreachable!() };
        assert_eq!(partial, "no newline");
        out.finish();
        assert!(bar.is_finished());
    }
}
