//! Tracing set-up for the binaries: `RUST_LOG`-style filtering, human-readable
//! lines, or JSON lines when `MUSICMETA_LOG_FORMAT=json`. Logs go to stderr,
//! so a command's own output on stdout (a summary, an answer) stays clean.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; call once from `main`. `default_level`
/// applies when `RUST_LOG` is not set.
pub fn init(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let json = std::env::var("MUSICMETA_LOG_FORMAT").is_ok_and(|v| v == "json");
    // Colours only on a terminal, so log files stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
