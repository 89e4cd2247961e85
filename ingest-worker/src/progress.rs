//! Progress of the bulk commands (`backfill`, `import-dump`) on stderr: an
//! `indicatif` bar on a terminal, a plain line at most once a second
//! otherwise (logs, CI), and notes (rejected lines) that do not tear the bar.

use std::io::{self, IsTerminal};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A progress bar when stderr is a terminal, plain lines otherwise.
    Auto,
    /// An `indicatif` bar: position/total, rate and ETA.
    Bar,
    /// `progress: 1200/5000 lines, 210.4/s` at most once a second, and once
    /// at the end.
    Lines,
    /// No progress output (rejected lines are still reported on stderr).
    Off,
}

/// What the position counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Input lines; the rate is lines per second.
    Lines,
    /// Bytes of input read; what they yielded, and its rate, is told by
    /// [`Reporter::detail`].
    Bytes,
}

pub(crate) struct Reporter {
    unit: Unit,
    detail: String,
    kind: Kind,
}

enum Kind {
    Bar(ProgressBar),
    Lines {
        position: u64,
        total: u64,
        started: Instant,
        last_shown: Instant,
    },
    Off,
}

impl Reporter {
    const LINE_INTERVAL: Duration = Duration::from_secs(1);

    pub(crate) fn start(progress: Progress, total: u64, unit: Unit) -> Self {
        let progress = match progress {
            Progress::Auto if io::stderr().is_terminal() => Progress::Bar,
            Progress::Auto => Progress::Lines,
            chosen => chosen,
        };
        let kind = match progress {
            Progress::Bar => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                let template = match unit {
                    Unit::Lines => {
                        "[{elapsed_precise}] {wide_bar} {pos}/{len} lines, {per_sec:1}, ETA {eta}"
                    }
                    Unit::Bytes => {
                        "[{elapsed_precise}] {wide_bar} {bytes}/{total_bytes}, ETA {eta}, {msg}"
                    }
                };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style);
                }
                bar.enable_steady_tick(Duration::from_millis(250));
                Kind::Bar(bar)
            }
            Progress::Lines => {
                let now = Instant::now();
                Kind::Lines {
                    position: 0,
                    total,
                    started: now,
                    last_shown: now,
                }
            }
            Progress::Off | Progress::Auto => Kind::Off,
        };
        Self {
            unit,
            detail: String::new(),
            kind,
        }
    }

    pub(crate) fn advance(&mut self, to: u64) {
        match &mut self.kind {
            Kind::Bar(bar) => bar.set_position(to),
            Kind::Lines {
                position,
                total,
                started,
                last_shown,
            } => {
                *position = to;
                let now = Instant::now();
                if now.duration_since(*last_shown) >= Self::LINE_INTERVAL {
                    *last_shown = now;
                    eprintln!(
                        "{}",
                        progress_line(self.unit, to, *total, now - *started, &self.detail)
                    );
                }
            }
            Kind::Off => {}
        }
    }

    /// What the input yielded so far (`12000 entities, 1830.5/s`).
    pub(crate) fn detail(&mut self, detail: String) {
        if let Kind::Bar(bar) = &self.kind {
            bar.set_message(detail.clone());
        }
        self.detail = detail;
    }

    pub(crate) fn note(&self, message: &str) {
        match &self.kind {
            Kind::Bar(bar) => bar.suspend(|| eprintln!("{message}")),
            _ => eprintln!("{message}"),
        }
    }

    pub(crate) fn finish(&mut self) {
        match &self.kind {
            // Cleared rather than left drawn: stdout, often the same
            // terminal, prints the summary next, and a left-over bar would
            // share its line. The closing line keeps the final rate.
            Kind::Bar(bar) => {
                bar.finish_and_clear();
                eprintln!(
                    "{}",
                    progress_line(
                        self.unit,
                        bar.position(),
                        bar.length().unwrap_or(0),
                        bar.elapsed(),
                        &self.detail
                    )
                );
            }
            Kind::Lines {
                position,
                total,
                started,
                ..
            } => eprintln!(
                "{}",
                progress_line(
                    self.unit,
                    *position,
                    *total,
                    started.elapsed(),
                    &self.detail
                )
            ),
            Kind::Off => {}
        }
    }
}

/// The plain progress line: `progress: 1200/5000 lines, 210.4/s`, or
/// `progress: 12.3/48.0 MiB, <detail>`.
pub(crate) fn progress_line(
    unit: Unit,
    position: u64,
    total: u64,
    elapsed: Duration,
    detail: &str,
) -> String {
    match unit {
        Unit::Lines => format!(
            "progress: {position}/{total} lines, {:.1}/s",
            rate(position, elapsed)
        ),
        Unit::Bytes => {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            format!(
                "progress: {:.1}/{:.1} MiB, {detail}",
                mib(position),
                mib(total)
            )
        }
    }
}

/// `count` per second over `elapsed` (0 before any time has passed).
pub(crate) fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_shows_position_and_rate() {
        assert_eq!(
            progress_line(Unit::Lines, 1200, 5000, Duration::from_millis(5_703), ""),
            "progress: 1200/5000 lines, 210.4/s"
        );
        assert_eq!(
            progress_line(Unit::Lines, 0, 0, Duration::ZERO, ""),
            "progress: 0/0 lines, 0.0/s"
        );
        assert_eq!(
            progress_line(
                Unit::Bytes,
                3 * 1024 * 1024,
                12 * 1024 * 1024,
                Duration::from_secs(1),
                "10 entities, 10.0/s"
            ),
            "progress: 3.0/12.0 MiB, 10 entities, 10.0/s"
        );
    }
}
