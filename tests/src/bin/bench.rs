//! `bench`: the load generator and meters of the performance benchmarks
//! (`scripts/bench` drives it; method and figures in docs/benchmarks.md).
//!
//! - `bench load`: K clients, each on its own HTTP/2 connection, call
//!   `GetRelease` or `GetArtist` on a running query-api for a warm-up and
//!   then a fixed duration, and report requests/s, errors and latency
//!   percentiles. Keys come from a file or from the database, drawn
//!   uniformly or Zipf-skewed. Without `--rate` each client sends its next
//!   call as soon as the last is answered (closed loop, peak throughput);
//!   with `--rate R` the clients together offer R calls/s on a fixed
//!   schedule, and a call that is sent late because the one before it was
//!   slow counts its latency from when it was due, so a stall is not hidden
//!   by the calls it delayed (a client that was idle counts from when its
//!   timer woke it: tokio's timers have 1 ms granularity). `--miss` asks for MBIDs never seen
//!   before: each call is a cold lookup through queue, worker and upsert.
//! - `bench ingest`: publishes N fetch jobs for fresh MBIDs and waits, on
//!   LISTEN, for the workers' fill notifications; reports releases stored
//!   per second and, given the worker's pid, its CPU time per release.
//! - `bench teardown`: deletes the exchange and queues a benchmark used.
//! - `bench grpc-body`: writes one call's request body (the gRPC frame of
//!   the proto-encoded request) to a file, so a generic HTTP/2 load
//!   generator (`h2load -d FILE`) can make the same call.
//!
//! `--watch-pid` (load) and `--worker-pid` (ingest) add the peak resident
//! size and CPU use of those processes over the measured window, read from
//! /proc. The generator shares the machine with what it measures; its own
//! CPU use is reported too.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use futures::StreamExt;
use hdrhistogram::Histogram;
use lapin::BasicProperties;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeleteOptions,
};
use lapin::types::ShortString;
use musicmeta_proto::v1::{self as pb, GetArtistRequest, GetReleaseRequest};
use musicmeta_proto::wire::metadata_service_client::MetadataServiceClient;
use musicmeta_shared::amqp::{self, Topology};
use musicmeta_shared::config::AmqpConfig;
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_shared::notify;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

#[derive(Parser)]
#[command(
    version,
    about = "Load generator and meters for the musicmeta benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drive query-api with K concurrent clients and report throughput and latency.
    Load(LoadArgs),
    /// Publish fetch jobs for fresh MBIDs and time the workers storing them.
    Ingest(IngestArgs),
    /// Delete the exchange and the queues (lanes, retries, dead letters) of a benchmark.
    Teardown(AmqpArgs),
    /// Write the request body of one lookup as a gRPC frame, for `h2load -d`.
    GrpcBody(GrpcBodyArgs),
}

#[derive(Args)]
struct GrpcBodyArgs {
    /// Which lookup the body is for.
    #[arg(long, value_enum, default_value_t = Method::Release)]
    method: Method,
    /// The MBID to look up.
    #[arg(long)]
    mbid: String,
    /// Where to write the body.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct LoadArgs {
    /// query-api's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// Concurrent clients, each with its own HTTP/2 connection and one call in flight.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds measured (fractions allowed).
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    duration: Duration,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value = "2", value_parser = parse_seconds)]
    warmup: Duration,
    /// Which lookup to call.
    #[arg(long, value_enum, default_value_t = Method::Release)]
    method: Method,
    /// File of MBIDs to look up, one a line.
    #[arg(long, conflicts_with = "database_url")]
    keys: Option<PathBuf>,
    /// Take the keys from this database instead: every fetched row of the
    /// method's entity type.
    #[arg(long)]
    database_url: Option<String>,
    /// Key popularity: `uniform`, or `zipf[:s]` (rank r is drawn with
    /// weight 1/r^s; s defaults to 1); or `once`: every key once, in file
    /// order, then stop (to warm a cache with a whole key set).
    #[arg(long, default_value = "uniform", value_parser = parse_dist)]
    dist: Dist,
    /// Offered load in calls/s over all clients; default: as fast as answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Look up fresh random MBIDs (cold misses) instead of keys.
    #[arg(long, conflicts_with_all = ["keys", "database_url"])]
    miss: bool,
    /// Deadline of each call, sent as grpc-timeout (seconds).
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    timeout: Duration,
    /// Decode each answer's entity too. By default the entity's bytes are
    /// received and checked for presence but not parsed, as pgbench does
    /// not use its row, so the generator takes less of the CPU it shares
    /// with what it measures.
    #[arg(long)]
    decode: bool,
    /// Also report peak resident size and CPU use of this process (repeatable).
    #[arg(long = "watch-pid")]
    watch_pids: Vec<i32>,
    /// Print one JSON object instead of a line of text.
    #[arg(long)]
    json: bool,
    /// query-api's `/metrics` URL: report the hot tier's hit ratio over the
    /// measured seconds (its hit and miss counters at the start and end).
    #[arg(long)]
    metrics: Option<String>,
}

#[derive(Args)]
struct AmqpArgs {
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
    /// `amqp.exchange` of the workers.
    #[arg(long, default_value = "musicmeta.jobs")]
    exchange: String,
    /// `amqp.queue` of the workers (prefix of the lane queues).
    #[arg(long, default_value = "musicmeta.fetch")]
    queue: String,
}

#[derive(Args)]
struct IngestArgs {
    /// The database the workers store into (fill notifications are heard there).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[command(flatten)]
    amqp: AmqpArgs,
    /// How many jobs (each a fresh MBID).
    #[arg(long, default_value_t = 2000)]
    jobs: usize,
    /// Entity type of the jobs.
    #[arg(long, value_enum, default_value_t = Method::Release)]
    entity: Method,
    /// The worker process, for its CPU time and resident size.
    #[arg(long)]
    worker_pid: Option<i32>,
    /// Give up when the jobs are not all stored within this many seconds.
    #[arg(long, default_value = "600", value_parser = parse_seconds)]
    timeout: Duration,
    /// Print one JSON object instead of a line of text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Method {
    Release,
    Artist,
}

impl Method {
    fn entity_type(self) -> EntityType {
        match self {
            Method::Release => EntityType::Release,
            Method::Artist => EntityType::Artist,
        }
    }

    fn rpc(self) -> &'static str {
        match self {
            Method::Release => "GetRelease",
            Method::Artist => "GetArtist",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Dist {
    Uniform,
    Zipf(f64),
    Once,
}

impl std::fmt::Display for Dist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dist::Uniform => f.write_str("uniform"),
            Dist::Zipf(s) => write!(f, "zipf:{s}"),
            Dist::Once => f.write_str("once"),
        }
    }
}

fn parse_dist(s: &str) -> Result<Dist, String> {
    match s.split_once(':') {
        None if s == "uniform" => Ok(Dist::Uniform),
        None if s == "zipf" => Ok(Dist::Zipf(1.0)),
        None if s == "once" => Ok(Dist::Once),
        Some(("zipf", exponent)) => match f64::from_str(exponent) {
            Ok(e) if e > 0.0 => Ok(Dist::Zipf(e)),
            _ => Err(format!("zipf exponent {exponent:?} is not a number > 0")),
        },
        _ => Err(format!("{s:?}: expected uniform, zipf, zipf:<s> or once")),
    }
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    f64::from_str(s)
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("{s:?} is not a number of seconds"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Load(args) => load(args).await,
        Command::Ingest(args) => ingest(args).await,
        Command::Teardown(args) => teardown(args).await,
        Command::GrpcBody(args) => grpc_body(args),
    }
}

/// One gRPC message as it travels in a request's DATA frames: a byte that
/// says "not compressed", the length (u32, big-endian), the encoded message.
/// Printed: the call's path, for h2load's URL.
fn grpc_body(args: GrpcBodyArgs) -> anyhow::Result<()> {
    use prost::Message;
    let message = match args.method {
        Method::Release => GetReleaseRequest { mbid: args.mbid }.encode_to_vec(),
        Method::Artist => GetArtistRequest { mbid: args.mbid }.encode_to_vec(),
    };
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
    frame.extend_from_slice(&message);
    std::fs::write(&args.out, frame).with_context(|| format!("writing {}", args.out.display()))?;
    println!("/musicmeta.v1.MetadataService/{}", args.method.rpc());
    Ok(())
}

/// Chooses the MBID of each call.
enum Keys {
    Fresh,
    Uniform(Vec<String>),
    Zipf(Vec<String>, Zipf<f64>),
    /// Each key once, shared by all clients; the next one to hand out.
    Once(Vec<String>, AtomicUsize),
}

impl Keys {
    /// The next key; `None` once `Once` has handed out every key.
    fn next(&self, rng: &mut SmallRng) -> Option<String> {
        match self {
            Keys::Fresh => Some(uuid::Uuid::new_v4().to_string()),
            Keys::Uniform(keys) => Some(keys[rng.random_range(0..keys.len())].clone()),
            // Zipf draws ranks 1..=n as floats.
            Keys::Zipf(keys, zipf) => {
                let rank = zipf.sample(rng) as usize;
                Some(keys[rank.clamp(1, keys.len()) - 1].clone())
            }
            Keys::Once(keys, next) => keys.get(next.fetch_add(1, Ordering::Relaxed)).cloned(),
        }
    }
}

async fn read_keys(args: &LoadArgs) -> anyhow::Result<Vec<String>> {
    if let Some(path) = &args.keys {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading keys from {}", path.display()))?;
        return Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect());
    }
    let Some(url) = &args.database_url else {
        anyhow::bail!("give --keys FILE, --database-url URL or --miss");
    };
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    // Table names come from the closed set of entity types, not from input.
    let table = args.method.entity_type().as_str().replace('-', "_");
    let sql = format!("SELECT mbid::text FROM {table} WHERE fetched_at IS NOT NULL ORDER BY mbid");
    Ok(client
        .query(&sql, &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// What one client saw in the measured window.
struct Tally {
    latency_us: Histogram<u64>,
    ok: u64,
    /// Entity bytes received in successful answers.
    bytes: u64,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Self {
        Self {
            // 1 µs to 1 hour at 3 significant digits.
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("valid histogram bounds"),
            ok: 0,
            bytes: 0,
            errors: BTreeMap::new(),
            first_error: None,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with equal bounds");
        self.ok += other.ok;
        self.bytes += other.bytes;
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
        self.first_error = self.first_error.take().or(other.first_error);
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.clients > 0, "--clients must be > 0");
    anyhow::ensure!(!args.duration.is_zero(), "--duration must be > 0");
    let keys = if args.miss {
        Keys::Fresh
    } else {
        let keys = read_keys(&args).await?;
        anyhow::ensure!(!keys.is_empty(), "no keys to look up");
        match args.dist {
            Dist::Uniform => Keys::Uniform(keys),
            Dist::Once => Keys::Once(keys, AtomicUsize::new(0)),
            Dist::Zipf(s) => {
                let zipf = Zipf::new(keys.len() as f64, s)?;
                Keys::Zipf(keys, zipf)
            }
        }
    };
    let key_count = match &keys {
        Keys::Fresh => 0,
        Keys::Uniform(k) | Keys::Zipf(k, _) | Keys::Once(k, _) => k.len(),
    };
    let keys = std::sync::Arc::new(keys);

    // One connection per client, all open before the clock starts.
    let endpoint = Endpoint::from_shared(args.addr.clone())?;
    let mut clients = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("connecting to {}", args.addr))?;
        clients.push(MetadataServiceClient::new(channel));
    }

    let start = Instant::now();
    let measure_from = start + args.warmup;
    let until = measure_from + args.duration;
    // With a fixed rate each client sends every `period`, staggered so the
    // clients' calls interleave evenly.
    let period = args
        .rate
        .map(|r| Duration::from_secs_f64(args.clients as f64 / r));
    // The meters stop at `until`, or when the clients do (`--dist once`).
    let done = CancellationToken::new();
    let watchers: Vec<_> = args
        .watch_pids
        .iter()
        .map(|&pid| tokio::spawn(watch(pid, measure_from, until, done.clone())))
        .collect();
    let own = tokio::spawn(watch(
        std::process::id() as i32,
        measure_from,
        until,
        done.clone(),
    ));
    let hot = args
        .metrics
        .clone()
        .map(|url| tokio::spawn(hot_tier_ratio(url, measure_from, until, done.clone())));

    let decode = args.decode;
    let mut tasks = Vec::with_capacity(args.clients);
    for (n, client) in clients.into_iter().enumerate() {
        let keys = keys.clone();
        let (method, timeout) = (args.method, args.timeout);
        let first = period.map(|p| start + p.mul_f64(n as f64 / args.clients as f64));
        tasks.push(tokio::spawn(async move {
            let mut rng = SmallRng::seed_from_u64(n as u64);
            let mut client = client;
            let mut tally = Tally::new();
            let mut due = first;
            loop {
                let sent = match due {
                    // Behind schedule (the last call took longer than a
                    // period): latency counts from when this call was due.
                    Some(at) if Instant::now() >= at => at,
                    // Idle until due: from when the timer woke the client, so
                    // the timer's 1 ms granularity is not charged to the server.
                    Some(at) => {
                        tokio::time::sleep_until(at).await;
                        Instant::now()
                    }
                    None => Instant::now(),
                };
                if sent >= until {
                    return tally;
                }
                let Some(key) = keys.next(&mut rng) else {
                    return tally;
                };
                let result = call(&mut client, method, key, timeout, decode).await;
                if sent >= measure_from {
                    let micros = sent.elapsed().as_micros().max(1);
                    tally.latency_us.saturating_record(micros as u64);
                    match result {
                        Ok(bytes) => {
                            tally.ok += 1;
                            tally.bytes += bytes as u64;
                        }
                        Err(status) => {
                            *tally
                                .errors
                                .entry(format!("{:?}", status.code()))
                                .or_default() += 1;
                            tally.first_error.get_or_insert_with(|| status.to_string());
                        }
                    }
                }
                if let (Some(at), Some(p)) = (due.as_mut(), period) {
                    *at += p;
                }
            }
        }));
    }
    let mut tally = Tally::new();
    for task in tasks {
        tally.merge(task.await?);
    }
    let ended = Instant::now().min(until);
    done.cancel();
    let mut processes = Vec::new();
    for watcher in watchers {
        processes.push(watcher.await??);
    }
    let own = own.await??;
    let hot_hit_ratio = match hot {
        Some(task) => task.await??,
        None => None,
    };

    let seconds = ended.saturating_duration_since(measure_from).as_secs_f64();
    let ms = |q: f64| tally.latency_us.value_at_quantile(q) as f64 / 1000.0;
    let requests = tally.ok + tally.error_count();
    let result = json!({
        "mode": if args.miss { "miss" } else { "hit" },
        "method": args.method.rpc(),
        "dist": if args.miss { "fresh".to_owned() } else { args.dist.to_string() },
        "keys": key_count,
        "clients": args.clients,
        "rate": args.rate,
        "duration_s": seconds,
        "requests": requests,
        "ok": tally.ok,
        "errors": tally.error_count(),
        "error_codes": tally.errors,
        "first_error": tally.first_error,
        "rps": tally.ok as f64 / seconds,
        "mean_entity_bytes": tally.bytes.checked_div(tally.ok),
        "mean_ms": tally.latency_us.mean() / 1000.0,
        "p50_ms": ms(0.50),
        "p90_ms": ms(0.90),
        "p99_ms": ms(0.99),
        "max_ms": tally.latency_us.max() as f64 / 1000.0,
        "client_cpu_pct": own.cpu_pct,
        "hot_hit_ratio": hot_hit_ratio,
        "processes": processes.iter().map(Usage::to_json).collect::<Vec<_>>(),
    });
    if args.json {
        println!("{result}");
    } else {
        let offered = args
            .rate
            .map(|r| format!(" at {r:.0}/s offered"))
            .unwrap_or_default();
        print!(
            "{} {} K={}{offered}: {:.0} req/s, {} errors; latency ms p50 {:.3} p90 {:.3} p99 {:.3} max {:.3}; load generator {:.0}% CPU",
            args.method.rpc(),
            result["dist"].as_str().unwrap_or_default(),
            args.clients,
            result["rps"].as_f64().unwrap_or_default(),
            tally.error_count(),
            ms(0.50),
            ms(0.90),
            ms(0.99),
            tally.latency_us.max() as f64 / 1000.0,
            own.cpu_pct,
        );
        for p in &processes {
            print!(
                "; pid {} {:.0}% CPU, peak RSS {:.1} MB",
                p.pid, p.cpu_pct, p.peak_rss_mb
            );
        }
        if let Some(ratio) = hot_hit_ratio {
            print!("; hot tier hit ratio {ratio:.3}");
        }
        println!();
        if let Some(e) = &tally.first_error {
            eprintln!("bench: first error: {e}");
        }
    }
    anyhow::ensure!(tally.ok > 0, "no call succeeded");
    Ok(())
}

/// The hot tier's hits / (hits + misses) between `from` and `until`, from
/// query-api's counters; `None` when it saw no lookup (tier off).
async fn hot_tier_ratio(
    url: String,
    from: Instant,
    until: Instant,
    done: CancellationToken,
) -> anyhow::Result<Option<f64>> {
    async fn counters(url: &str) -> anyhow::Result<(f64, f64)> {
        let text = reqwest::get(url).await?.error_for_status()?.text().await?;
        let value = |result: &str| {
            let name = format!("musicmeta_hot_tier_lookups_total{{result=\"{result}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&name))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok((value("hit"), value("miss")))
    }
    tokio::time::sleep_until(from).await;
    let (hits, misses) = counters(&url).await.context("scraping /metrics")?;
    tokio::select! {
        () = tokio::time::sleep_until(until) => {}
        () = done.cancelled() => {}
    }
    let (hits_after, misses_after) = counters(&url).await.context("scraping /metrics")?;
    let (hits, misses) = (hits_after - hits, misses_after - misses);
    Ok((hits + misses > 0.0).then(|| hits / (hits + misses)))
}

async fn call(
    client: &mut MetadataServiceClient<Channel>,
    method: Method,
    mbid: String,
    timeout: Duration,
    decode: bool,
) -> Result<usize, tonic::Status> {
    use prost::Message;
    // An answer without its entity would be a server bug; count it as one.
    let check = |body: prost::bytes::Bytes, parse: fn(&[u8]) -> bool| {
        if body.is_empty() || (decode && !parse(&body)) {
            Err(tonic::Status::internal("answer without a valid entity"))
        } else {
            Ok(body.len())
        }
    };
    match method {
        Method::Release => {
            let mut request = tonic::Request::new(GetReleaseRequest { mbid });
            request.set_timeout(timeout);
            let answer = client.get_release(request).await?.into_inner();
            check(answer.release, |b| pb::Release::decode(b).is_ok())
        }
        Method::Artist => {
            let mut request = tonic::Request::new(GetArtistRequest { mbid });
            request.set_timeout(timeout);
            let answer = client.get_artist(request).await?.into_inner();
            check(answer.artist, |b| pb::Artist::decode(b).is_ok())
        }
    }
}

/// A process's resource use over a window.
struct Usage {
    pid: i32,
    cpu_pct: f64,
    cpu_s: f64,
    peak_rss_mb: f64,
}

impl Usage {
    fn to_json(&self) -> Value {
        json!({
            "pid": self.pid,
            "cpu_pct": self.cpu_pct,
            "cpu_s": self.cpu_s,
            "peak_rss_mb": self.peak_rss_mb,
        })
    }
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_seconds(process: &procfs::process::Process) -> anyhow::Result<f64> {
    let stat = process.stat()?;
    Ok((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

fn rss_mb(process: &procfs::process::Process) -> anyhow::Result<f64> {
    Ok(process.status()?.vmrss.unwrap_or(0) as f64 / 1024.0)
}

/// Samples the process's resident size every 100 ms from `from` to `until`
/// and its CPU time at both ends.
async fn watch(
    pid: i32,
    from: Instant,
    until: Instant,
    done: CancellationToken,
) -> anyhow::Result<Usage> {
    let process = procfs::process::Process::new(pid).with_context(|| format!("process {pid}"))?;
    tokio::time::sleep_until(from).await;
    let cpu_before = cpu_seconds(&process)?;
    let mut peak: f64 = rss_mb(&process)?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while Instant::now() < until && !done.is_cancelled() {
        tokio::select! {
            _ = tick.tick() => peak = peak.max(rss_mb(&process)?),
            _ = tokio::time::sleep_until(until) => {}
            () = done.cancelled() => {}
        }
    }
    let cpu_s = cpu_seconds(&process)? - cpu_before;
    let window = (Instant::now() - from).as_secs_f64();
    Ok(Usage {
        pid,
        cpu_pct: 100.0 * cpu_s / window,
        cpu_s,
        peak_rss_mb: peak.max(rss_mb(&process)?),
    })
}

fn amqp_config(args: &AmqpArgs) -> AmqpConfig {
    AmqpConfig {
        url: args.amqp_url.clone(),
        prefetch: 1,
        exchange: args.exchange.clone(),
        queue: args.queue.clone(),
        publish_timeout_ms: 5_000,
        queue_type: Default::default(),
        urls: Vec::new(),
    }
}

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let entity_type = args.entity.entity_type();
    // Listen before publishing, so no fill can come unheard.
    let (listener, mut connection) = tokio_postgres::connect(&args.database_url, NoTls).await?;
    let (fills_tx, mut fills) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message {
                let _ = fills_tx.send(n.payload().to_owned());
            }
        }
    });
    listener
        .batch_execute(&format!("LISTEN {}", notify::CHANNEL))
        .await?;

    let mbids: Vec<Mbid> = (0..args.jobs)
        .map(|_| Mbid::from_uuid(uuid::Uuid::new_v4()))
        .collect();
    let mut pending: HashSet<String> = mbids
        .iter()
        .map(|m| notify::payload(entity_type, *m))
        .collect();

    let topology = Topology::from_config(&amqp_config(&args.amqp));
    let broker = amqp::connect(&args.amqp.amqp_url).await?;
    let channel = broker.create_channel().await?;
    topology.declare(&channel).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;

    let worker = args
        .worker_pid
        .map(procfs::process::Process::new)
        .transpose()?;
    let cpu_before = worker.as_ref().map(cpu_seconds).transpose()?;
    let mut peak_rss = worker.as_ref().map(rss_mb).transpose()?.unwrap_or(0.0);

    let started = Instant::now();
    for mbid in &mbids {
        let job = FetchJob::new(entity_type, *mbid);
        // Confirms are awaited below, all at once.
        drop(
            channel
                .basic_publish(
                    topology.exchange.as_str().into(),
                    Lane::Backfill.routing_key().into(),
                    BasicPublishOptions::default(),
                    &job.encode(),
                    BasicProperties::default()
                        .with_delivery_mode(2)
                        .with_content_type(ShortString::from("application/json")),
                )
                .await?,
        );
    }
    let returned = channel.wait_for_confirms().await?;
    anyhow::ensure!(
        returned.is_empty(),
        "{} jobs were not routed",
        returned.len()
    );
    let published = started.elapsed();

    let deadline = started + args.timeout;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while !pending.is_empty() {
        tokio::select! {
            fill = fills.recv() => {
                let fill = fill.context("the LISTEN connection closed")?;
                pending.remove(&fill);
            }
            _ = tick.tick() => {
                if let Some(w) = &worker {
                    peak_rss = peak_rss.max(rss_mb(w)?);
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                anyhow::bail!("{} of {} jobs not stored within {:?}", pending.len(), args.jobs, args.timeout);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_s = match (&worker, cpu_before) {
        (Some(w), Some(before)) => Some(cpu_seconds(w)? - before),
        _ => None,
    };
    let _ = broker.close(200, ShortString::from("bye")).await;

    // Check the notifications against the rows: each job stored its entity.
    let table = entity_type.as_str().replace('-', "_");
    let uuids: Vec<uuid::Uuid> = mbids.iter().map(Mbid::as_uuid).collect();
    let stored: i64 = listener
        .query_one(
            &format!(
                "SELECT count(*) FROM {table} WHERE mbid = ANY($1) AND fetched_at IS NOT NULL"
            ),
            &[&uuids],
        )
        .await?
        .get(0);

    let rate = args.jobs as f64 / seconds;
    let cpu_ms_per_job = cpu_s.map(|c| 1000.0 * c / args.jobs as f64);
    let result = json!({
        "entity": entity_type.as_str(),
        "jobs": args.jobs,
        "stored": stored,
        "seconds": seconds,
        "publish_s": published.as_secs_f64(),
        "per_s": rate,
        "worker_cpu_s": cpu_s,
        "worker_cpu_ms_per_job": cpu_ms_per_job,
        "worker_cpu_pct": cpu_s.map(|c| 100.0 * c / seconds),
        "worker_peak_rss_mb": worker.as_ref().map(|_| peak_rss),
    });
    if args.json {
        println!("{result}");
    } else {
        print!(
            "ingest: {stored} of {} {entity_type}s stored in {seconds:.2} s: {rate:.0}/s",
            args.jobs
        );
        if let (Some(c), Some(per)) = (cpu_s, cpu_ms_per_job) {
            print!(
                "; worker CPU {c:.2} s ({per:.2} ms per {entity_type}, {:.0}%), peak RSS {peak_rss:.1} MB",
                100.0 * c / seconds
            );
        }
        println!();
    }
    anyhow::ensure!(
        stored == args.jobs as i64,
        "only {stored} of {} jobs stored their entity",
        args.jobs
    );
    Ok(())
}

async fn teardown(args: AmqpArgs) -> anyhow::Result<()> {
    let topology = Topology::from_config(&amqp_config(&args));
    let broker = amqp::connect(&args.amqp_url).await?;
    let channel = broker.create_channel().await?;
    let mut queues: Vec<String> = Lane::ALL.iter().map(|l| topology.lane_queue(*l)).collect();
    queues.extend(topology.retry_queues());
    queues.push(topology.dead_letter_queue.clone());
    for queue in &queues {
        channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    channel
        .exchange_delete(
            topology.exchange.as_str().into(),
            ExchangeDeleteOptions::default(),
        )
        .await?;
    let _ = broker.close(200, ShortString::from("bye")).await;
    println!(
        "teardown: deleted exchange {} and queues {}",
        topology.exchange,
        queues.join(", ")
    );
    Ok(())
}
