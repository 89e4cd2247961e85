//! A PostgreSQL primary with a streaming replica, both of their own on this
//! machine, for the read-replica tests: the installed PostgreSQL's programs
//! (`initdb`, `pg_ctl`, `pg_basebackup -R`), each cluster in its own folder
//! and on its own port, run as the `postgres` user when the tests run as
//! root (the server refuses root). Both are stopped and their folder removed
//! on drop; the shared test server is not touched, so pausing the replica's
//! replay affects no other test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use tokio_postgres::NoTls;

/// The newest installed PostgreSQL's programs (Debian's layout).
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("pg_basebackup").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[derive(Debug)]
pub struct PgPair {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
    pub primary_port: u16,
    pub replica_port: u16,
    replica_running: bool,
}

impl PgPair {
    /// True when PostgreSQL's server programs are installed here.
    pub fn available() -> bool {
        bin_dir().is_some()
    }

    /// Starts a primary and a replica made from it with `pg_basebackup -R`
    /// (blocking: call from `spawn_blocking`).
    pub fn start() -> Self {
        let bin = bin_dir().expect("PostgreSQL server programs under /usr/lib/postgresql");
        let dir = std::env::temp_dir().join(format!("musicmeta-pgpair-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("pair folder");
        let as_postgres = is_root();
        let mut pair = Self {
            bin,
            dir,
            as_postgres,
            primary_port: free_port(),
            replica_port: free_port(),
            replica_running: false,
        };
        if as_postgres {
            pair.run("chown", &["postgres:postgres", &pair.path("")], false)
                .expect("hand the pair's folder to postgres");
        }
        let primary = pair.path("primary");
        // Trust for local users and replication: the pair is private to the test.
        pair.run_pg(
            "initdb",
            &["-D", &primary, "-U", "postgres", "-A", "trust", "--no-sync"],
        );
        pair.pg_ctl_start("primary", pair.primary_port);
        pair.run_pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &pair.primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                &pair.path("replica"),
                "-R",
                "-X",
                "stream",
            ],
        );
        pair.start_replica();
        pair
    }

    /// The primary's admin URL (`…/postgres`), for [`crate::TestOptions::database_server`].
    pub fn primary_admin_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.primary_port
        )
    }

    /// The replica's server URL, without a database, for
    /// [`crate::TestOptions::read_servers`].
    pub fn replica_server(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.replica_port)
    }

    /// A connection to `database` on the replica.
    pub async fn replica(&self, database: &str) -> tokio_postgres::Client {
        let url = format!("{}/{database}", self.replica_server());
        let (client, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .expect("connect to the replica");
        tokio::spawn(connection);
        client
    }

    /// Stops the replica applying WAL (it keeps receiving it).
    pub async fn pause_replay(&self) {
        self.replica("postgres")
            .await
            .batch_execute("SELECT pg_wal_replay_pause()")
            .await
            .expect("pause replay");
    }

    pub async fn resume_replay(&self) {
        self.replica("postgres")
            .await
            .batch_execute("SELECT pg_wal_replay_resume()")
            .await
            .expect("resume replay");
    }

    /// Stops the replica at once, as a crash would (blocking).
    pub fn stop_replica(&mut self) {
        self.pg_ctl_stop("replica").expect("stop the replica");
        self.replica_running = false;
    }

    /// Starts the replica again (blocking).
    pub fn start_replica(&mut self) {
        self.pg_ctl_start("replica", self.replica_port);
        self.replica_running = true;
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn pg_ctl_start(&self, cluster: &str, port: u16) {
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.path("")
        );
        self.run_pg(
            "pg_ctl",
            &[
                "-D",
                &self.path(cluster),
                "-o",
                &options,
                "-l",
                &self.path(&format!("{cluster}.log")),
                "-w",
                "start",
            ],
        );
    }

    fn pg_ctl_stop(&self, cluster: &str) -> Result<(), String> {
        self.run(
            &self.bin.join("pg_ctl").to_string_lossy(),
            &["-D", &self.path(cluster), "-m", "immediate", "-w", "stop"],
            true,
        )
    }

    fn run_pg(&self, program: &str, args: &[&str]) {
        self.run(&self.bin.join(program).to_string_lossy(), args, true)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn run(&self, program: &str, args: &[&str], as_postgres: bool) -> Result<(), String> {
        let mut command = if as_postgres && self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        };
        let out = command
            .args(args)
            .current_dir(Path::new("/"))
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        // Best effort: a failure here must not turn into a panic in a panic.
        if self.replica_running {
            let _ = self.pg_ctl_stop("replica");
        }
        let _ = self.pg_ctl_stop("primary");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
