//! A RabbitMQ cluster of its own on this machine, for the node-loss test:
//! N nodes of the installed RabbitMQ (separate node names, ports and data
//! folders, the machine's epmd and Erlang cookie), joined with
//! `rabbitmqctl join_cluster`, stopped and their folders removed on drop.
//! The shared test broker is not touched.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

/// The installed RabbitMQ's programs (Debian puts the real ones here; the
/// wrappers on PATH switch to the rabbitmq user).
const BIN: &str = "/usr/lib/rabbitmq/bin";

#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub port: u16,
    dir: PathBuf,
    running: bool,
}

impl Node {
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

#[derive(Debug)]
pub struct RabbitCluster {
    pub nodes: Vec<Node>,
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn ctl(node: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(format!("{BIN}/rabbitmqctl"))
        .arg("-n")
        .arg(node)
        .args(args)
        .output()
        .map_err(|e| format!("rabbitmqctl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "rabbitmqctl -n {node} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl RabbitCluster {
    /// Whether this machine can run one (RabbitMQ installed).
    pub fn available() -> bool {
        std::path::Path::new(BIN).join("rabbitmq-server").exists()
    }

    /// Starts `n` nodes and joins them into one cluster. Blocking: call it
    /// from `spawn_blocking`.
    pub fn start(n: usize) -> Self {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let mut cluster = Self { nodes: Vec::new() };
        for i in 0..n {
            let name = format!("mmt{id}{i}@localhost");
            let dir = std::env::temp_dir().join(format!("musicmeta-rabbit-{id}-{i}"));
            std::fs::create_dir_all(&dir).expect("node folder");
            let plugins = dir.join("enabled_plugins");
            std::fs::write(&plugins, "[].\n").expect("plugins file");
            let port = free_port();
            let status = Command::new(format!("{BIN}/rabbitmq-server"))
                .arg("-detached")
                .env("RABBITMQ_NODENAME", &name)
                .env("RABBITMQ_NODE_PORT", port.to_string())
                .env("RABBITMQ_DIST_PORT", free_port().to_string())
                .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
                .env("RABBITMQ_LOG_BASE", dir.join("log"))
                .env("RABBITMQ_PID_FILE", dir.join("pid"))
                .env("RABBITMQ_ENABLED_PLUGINS_FILE", &plugins)
                .env("RABBITMQ_CONFIG_FILE", dir.join("none"))
                .status()
                .expect("start rabbitmq-server");
            assert!(status.success(), "rabbitmq-server {name} did not start");
            cluster.nodes.push(Node {
                name,
                port,
                dir,
                running: true,
            });
        }
        // `wait` follows the pid file, which the node writes once it runs:
        // `await_startup` alone fails while the node is still registering.
        for node in &cluster.nodes {
            let pid = node.dir.join("pid");
            let pid = pid.to_str().expect("a UTF-8 path");
            ctl(&node.name, &["wait", pid, "--timeout", "120"])
                .unwrap_or_else(|e| panic!("{} did not boot: {e}", node.name));
        }
        let first = cluster.nodes[0].name.clone();
        for node in &cluster.nodes[1..] {
            for args in [
                vec!["stop_app"],
                vec!["join_cluster", first.as_str()],
                vec!["start_app"],
            ] {
                ctl(&node.name, &args).unwrap_or_else(|e| panic!("joining the cluster: {e}"));
            }
        }
        cluster
    }

    /// The node that leads `queue` (a quorum queue), by the cluster's word.
    pub fn leader_of(&self, queue: &str) -> usize {
        let any = self
            .nodes
            .iter()
            .find(|n| n.running)
            .expect("a running node");
        let out = ctl(
            &any.name,
            &["list_queues", "name", "leader", "--formatter", "json"],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let rows: Vec<serde_json::Value> = serde_json::from_str(&out).expect("list_queues JSON");
        let leader = rows
            .iter()
            .find(|r| r["name"] == queue)
            .and_then(|r| r["leader"].as_str())
            .unwrap_or_else(|| panic!("{queue} has no leader in {out}"));
        self.nodes
            .iter()
            .position(|n| n.name == leader)
            .unwrap_or_else(|| panic!("leader {leader} is not one of the nodes"))
    }

    /// Stops node `i` for good (as a lost machine). Blocking.
    pub fn stop(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        ctl(&node.name, &["stop"]).unwrap_or_else(|e| panic!("{e}"));
        node.running = false;
    }
}

impl Drop for RabbitCluster {
    fn drop(&mut self) {
        for node in &self.nodes {
            if node.running {
                let _ = ctl(&node.name, &["stop"]);
            }
            // Kept after a failure, for its logs.
            if !std::thread::panicking() {
                let _ = std::fs::remove_dir_all(&node.dir);
            }
        }
    }
}
