//! Running the Python programs some tests drive (pika, grpcio clients: code
//! this project did not write). A missing interpreter or module fails the
//! test with what to install; it never skips.

use std::path::Path;
use std::process::{Command, Output, Stdio};

pub const INSTALL_HINT: &str = "pip install -r tests/python/requirements.txt";

/// `python3`, or `$MUSICMETA_TEST_PYTHON`.
pub fn interpreter() -> String {
    std::env::var("MUSICMETA_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// `python3 <args>` run in `dir`, writing no `__pycache__` into the tree.
pub fn command<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> Command {
    let mut command = Command::new(interpreter());
    command
        .args(args)
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null());
    command
}

/// Fails the test, saying what to install, unless `imports` (e.g.
/// `"import pika"`) runs.
pub fn require(imports: &str) {
    let python = interpreter();
    let output = command(Path::new("."), &["-c", imports])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{python}` ({e}): install Python 3 and run `{INSTALL_HINT}`")
        });
    assert!(
        output.status.success(),
        "`{python}` cannot `{imports}`; run `{INSTALL_HINT}`\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Longest a Python program may run before the test fails.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(90);

/// Runs a command off the async runtime's threads, so the services under
/// test in this process keep serving meanwhile; bounded by [`LIMIT`].
pub async fn output(mut command: Command) -> Output {
    let shown = format!("{command:?}");
    let run = tokio::task::spawn_blocking(move || command.output());
    tokio::time::timeout(LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("{shown} did not exit within {LIMIT:?}"))
        .expect("python task")
        .unwrap_or_else(|e| panic!("running {shown}: {e}; {INSTALL_HINT}"))
}

/// A finished run's status and output, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
