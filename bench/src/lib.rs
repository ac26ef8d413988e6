//! rudder-bench: the `make bench` harness for kube-apiserver. It starts its own etcd and
//! kube-apiservers (child processes of the binaries in `--bin-dir`, loopback only, in a temp
//! dir that is removed with every child killed on exit), then measures over HTTPS:
//!
//! 1. ConfigMap create rate and latency at several concurrencies, on SQLite and on etcd,
//!    beside the raw store's own write rate (`rudder_storage::bench`);
//! 2. LIST latency of many pods served from the watch cache (`resourceVersion=0`);
//! 3. watch fan-out: delivery lag and completeness for many watchers;
//! 4. kube-apiserver RSS idle and loaded;
//! 5. kube-controller-manager: Deployment create / rolling update / delete times and RSS
//!    ([`controllers`], `--cm also|only|off`, `--cm-scale`);
//! 6. kubelet: pod startup latency (created -> Ready via watch) on a private one-node
//!    cluster with containerd, and the kubelet's RSS and idle CPU ([`kubelet`],
//!    `--kubelet also|only|off`).
//!
//! Start at [`run`]; [`Options`] are the flags. The HTTPS client is [`client::Client`], the
//! workloads are in [`scenarios`], process handling in [`procs`].

pub mod client;
pub mod controllers;
pub mod kubelet;
pub mod procs;
pub mod scenarios;
pub mod scheduler_perf;
pub mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::client::Client;
use crate::procs::{rss_bytes, Workspace};
use crate::scenarios::{
    configmap_body, create_many, ensure_namespace, list_many, pod_body, CreateRun,
};
use crate::stats::{fmt_mib, fmt_secs, table, Summary};

/// Where the upstream anchors come from.
const SLO_DOC: &str = "kubernetes/community sig-scalability/slos/api_call_latency.md";
const WATCH_DOC: &str = "kubernetes/community sig-scalability/slos/watch_latency.md";

/// Flags of `rudder-bench`.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "rudder-bench", about = "kube-apiserver benchmark (make bench)")]
pub struct Options {
    /// Directory holding the kube-apiserver binary to measure.
    #[arg(long, env = "RUDDER_BENCH_BIN_DIR", default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// The etcd binary.
    #[arg(long, env = "RUDDER_BENCH_ETCD", default_value = "etcd")]
    pub etcd_bin: PathBuf,
    /// ConfigMap creates per concurrency level and backend.
    #[arg(long, default_value_t = 2000)]
    pub creates: usize,
    /// Concurrency levels of the create measurement.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Size of the ConfigMap payload (the raw baselines write 1 KiB values).
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,
    /// Directory under which the bench makes its temp dir (the stores' fsyncs land there).
    #[arg(long, env = "RUDDER_BENCH_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Skip the etcd backend.
    #[arg(long)]
    pub skip_etcd: bool,
    /// Pods created before the LIST measurement.
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    /// Concurrency of the pod creates.
    #[arg(long, default_value_t = 64)]
    pub pod_concurrency: usize,
    /// Number of timed LISTs.
    #[arg(long, default_value_t = 20)]
    pub lists: usize,
    /// Concurrent watchers in the fan-out.
    #[arg(long, default_value_t = 500)]
    pub watchers: usize,
    /// ConfigMap writes watched in the fan-out.
    #[arg(long, default_value_t = 1000)]
    pub watch_writes: usize,
    /// Concurrency of the fan-out writes.
    #[arg(long, default_value_t = 8)]
    pub watch_write_concurrency: usize,
    /// How long to wait for deliveries after the last fan-out write, in seconds.
    #[arg(long, default_value_t = 60)]
    pub watch_timeout_secs: u64,
    /// HTTP/2 connections used for requests.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Watch streams per HTTP/2 connection (hyper's server allows 200 concurrent streams
    /// per connection by default).
    #[arg(long, default_value_t = 100)]
    pub watchers_per_connection: usize,
    /// kube-scheduler benchmark flags.
    #[command(flatten)]
    pub scheduler: scheduler_perf::Options,
    /// The kube-controller-manager part (bench/src/controllers.rs).
    #[command(flatten)]
    pub cm: controllers::CmOptions,
    /// The kubelet part (bench/src/kubelet.rs).
    #[command(flatten)]
    pub kubelet: kubelet::KubeletOptions,
}

#[derive(Default)]
struct Report {
    creates: Vec<(String, CreateRun, f64)>,
    pods: Option<CreateRun>,
    list: Option<scenarios::ListRun>,
    fanout: Option<scenarios::FanoutRun>,
    rss: Vec<(String, u64)>,
}

/// Runs every measurement and prints the report to stdout.
pub async fn run(opts: Options) -> Result<()> {
    let started = Instant::now();
    let bin_dir = std::fs::canonicalize(&opts.bin_dir)
        .with_context(|| format!("bin dir {}", opts.bin_dir.display()))?;
    anyhow::ensure!(
        bin_dir.join("kube-apiserver").is_file(),
        "no kube-apiserver in {}",
        bin_dir.display()
    );
    println!("rudder-bench: kube-apiserver from {}", bin_dir.display());
    if opts.kubelet.kubelet_mode == kubelet::KubeletMode::Only {
        return kubelet::run(&bin_dir, opts.work_dir.as_deref(), &opts.kubelet).await;
    }
    if opts.cm.cm_mode == controllers::CmMode::Only {
        return controllers::run(&bin_dir, opts.work_dir.as_deref(), &opts.cm).await;
    }
    println!(
        "parameters: creates={} concurrency={:?} payload={}B pods={} pod-concurrency={} lists={} watchers={} watch-writes={} watch-write-concurrency={} connections={} watchers-per-connection={} etcd={}",
        opts.creates,
        opts.concurrency,
        opts.payload_bytes,
        opts.pods,
        opts.pod_concurrency,
        opts.lists,
        opts.watchers,
        opts.watch_writes,
        opts.watch_write_concurrency,
        opts.connections,
        opts.watchers_per_connection,
        if opts.skip_etcd { "skipped" } else { "yes" },
    );
    let mut ws = Workspace::new(opts.work_dir.as_deref())?;
    println!(
        "work dir: {} ({})",
        ws.path().display(),
        procs::fs_type(ws.path()).unwrap_or_else(|| "filesystem unknown".into())
    );
    let mut report = Report::default();
    if opts.scheduler.only_scheduler {
        let runs =
            scheduler_perf::run(&opts.scheduler, &mut ws, &bin_dir, opts.connections).await?;
        drop(ws);
        scheduler_perf::print_report(&runs);
        println!("total bench time: {:.0}s", started.elapsed().as_secs_f64());
        return Ok(());
    }

    // --- SQLite backend: creates, then the scale scenarios on the same server.
    eprintln!(">> starting kube-apiserver on SQLite");
    let api = ws
        .start_apiserver(&bin_dir, "apiserver-sqlite", None)
        .await?;
    report
        .rss
        .push(("sqlite: idle after start".into(), rss_bytes(api.pid)?));
    let client = Arc::new(Client::connect(&api.creds, opts.connections).await?);
    for &c in &opts.concurrency {
        eprintln!(">> sqlite: raw transactions and apiserver creates at concurrency {c}");
        let raw_dir = ws.subdir(&format!("raw-sqlite-c{c}"))?;
        let raw = rudder_storage::bench::raw_sqlite_tx_rate(&raw_dir, opts.creates, c)
            .await
            .context("raw sqlite rate")?;
        let run = creates(&client, &format!("bench-sqlite-c{c}"), &opts, c).await?;
        report.creates.push(("sqlite".into(), run, raw));
    }

    eprintln!(">> creating {} pods", opts.pods);
    ensure_namespace(&client, "bench-pods").await?;
    let pods = create_many(
        &client,
        "/api/v1/namespaces/bench-pods/pods",
        opts.pods,
        opts.pod_concurrency,
        Arc::new(pod_body),
        None,
    )
    .await?;
    report.pods = Some(pods);
    report.rss.push((
        format!("sqlite: after {} pods", opts.pods),
        rss_bytes(api.pid)?,
    ));

    eprintln!(">> {} LISTs of all pods from the watch cache", opts.lists);
    let list = list_many(&client, "/api/v1/pods?resourceVersion=0", opts.lists).await?;
    anyhow::ensure!(
        list.items >= opts.pods,
        "LIST returned {} items, expected at least {}",
        list.items,
        opts.pods
    );
    report.list = Some(list);

    eprintln!(
        ">> watch fan-out: {} watchers, {} writes",
        opts.watchers, opts.watch_writes
    );
    ensure_namespace(&client, "bench-watch").await?;
    let watch_conns = opts.watchers.div_ceil(opts.watchers_per_connection.max(1));
    let watch_client = Arc::new(Client::connect(&api.creds, watch_conns).await?);
    let fan = scenarios::fanout(
        watch_client.clone(),
        client.clone(),
        "bench-watch",
        opts.watchers,
        opts.watch_writes,
        opts.watch_write_concurrency,
        Duration::from_secs(opts.watch_timeout_secs),
        api.pid,
    )
    .await?;
    report
        .rss
        .push(("sqlite: peak during fan-out".into(), fan.peak_rss));
    report
        .rss
        .push(("sqlite: after fan-out".into(), rss_bytes(api.pid)?));
    report.fanout = Some(fan);
    drop(watch_client);
    drop(client);
    ws.stop(api.pid);

    // --- etcd backend: creates only.
    if !opts.skip_etcd {
        eprintln!(">> starting etcd and kube-apiserver on etcd");
        let (etcd_url, _etcd_pid) = ws.start_etcd(&opts.etcd_bin, "etcd").await?;
        let api = ws
            .start_apiserver(&bin_dir, "apiserver-etcd", Some(&etcd_url))
            .await?;
        report
            .rss
            .push(("etcd: idle after start".into(), rss_bytes(api.pid)?));
        let client = Arc::new(Client::connect(&api.creds, opts.connections).await?);
        for &c in &opts.concurrency {
            eprintln!(">> etcd: raw puts and apiserver creates at concurrency {c}");
            let raw = rudder_storage::bench::raw_etcd_put_rate(
                std::slice::from_ref(&etcd_url),
                opts.creates,
                c,
            )
            .await
            .context("raw etcd rate")?;
            let run = creates(&client, &format!("bench-etcd-c{c}"), &opts, c).await?;
            report.creates.push(("etcd".into(), run, raw));
        }
        report.rss.push((
            format!(
                "etcd: after {} creates",
                opts.creates * opts.concurrency.len()
            ),
            rss_bytes(api.pid)?,
        ));
    }
    let sched = if opts.scheduler.skip_scheduler {
        Vec::new()
    } else {
        scheduler_perf::run(&opts.scheduler, &mut ws, &bin_dir, opts.connections).await?
    };
    drop(ws);
    print_report(&opts, &report, started.elapsed());
    scheduler_perf::print_report(&sched);
    if opts.cm.cm_mode == controllers::CmMode::Also {
        controllers::run(&bin_dir, opts.work_dir.as_deref(), &opts.cm).await?;
    }
    if opts.kubelet.kubelet_mode == kubelet::KubeletMode::Also {
        kubelet::run(&bin_dir, opts.work_dir.as_deref(), &opts.kubelet).await?;
    }
    Ok(())
}

async fn creates(client: &Arc<Client>, ns: &str, opts: &Options, c: usize) -> Result<CreateRun> {
    ensure_namespace(client, ns).await?;
    let payload = opts.payload_bytes;
    create_many(
        client,
        &format!("/api/v1/namespaces/{ns}/configmaps"),
        opts.creates,
        c,
        Arc::new(move |i| configmap_body("cm-", i, payload)),
        None,
    )
    .await
}

fn lat(s: &Option<Summary>) -> [String; 3] {
    match s {
        Some(s) => [fmt_secs(s.p50), fmt_secs(s.p99), fmt_secs(s.max)],
        None => ["n/a".into(), "n/a".into(), "n/a".into()],
    }
}

fn print_report(opts: &Options, r: &Report, total: Duration) {
    println!();
    println!(
        "== 1. ConfigMap creates over HTTPS vs the raw store ({} per row, {} B payload)",
        opts.creates, opts.payload_bytes
    );
    let rows: Vec<Vec<String>> = r
        .creates
        .iter()
        .map(|(backend, run, raw)| {
            let [p50, p99, _] = lat(&run.latency);
            vec![
                backend.clone(),
                run.concurrency.to_string(),
                format!("{:.0}", run.rate()),
                p50,
                p99,
                format!("{raw:.0}"),
                format!("{:.2}", run.rate() / raw),
                "p99 <= 1s".into(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "backend",
                "conc",
                "creates/s",
                "p50",
                "p99",
                "raw writes/s",
                "api/raw",
                "upstream SLO [a]"
            ],
            &rows
        )
    );
    println!("raw writes/s: sqlite = rudder_storage::bench::raw_sqlite_tx_rate (WAL, synchronous=FULL, one tx per write);");
    println!("              etcd = rudder_storage::bench::raw_etcd_put_rate (1 KiB puts to the same etcd). Upstream create rate: n/a.");
    println!("note: the raw SQLite baseline gives each worker its own connection, so concurrent writers queue on SQLite's");
    println!("      write lock (busy_timeout retries); the apiserver's store group-commits concurrent writes in one writer");
    println!(
        "      (one fsync per batch), so api/raw > 1 at concurrency > 1 is expected, not an error."
    );

    println!();
    println!("== 2. LIST of all pods from the watch cache (GET /api/v1/pods?resourceVersion=0, SQLite backend)");
    let mut rows = Vec::new();
    if let Some(p) = &r.pods {
        let [p50, p99, max] = lat(&p.latency);
        rows.push(vec![
            format!("create {} pods (conc {})", p.n, p.concurrency),
            format!("{:.0}/s", p.rate()),
            p50,
            p99,
            max,
            "p99 <= 1s [a]".into(),
        ]);
    }
    if let Some(l) = &r.list {
        let [p50, p99, max] = lat(&l.latency);
        rows.push(vec![
            format!(
                "{} LISTs of {} items ({})",
                l.lists,
                l.items,
                fmt_mib(l.bytes as u64)
            ),
            "-".into(),
            p50,
            p99,
            max,
            "p99 <= 30s, cluster scope [a]".into(),
        ]);
    }
    print!(
        "{}",
        table(
            &["operation", "rate", "p50", "p99", "max", "upstream SLO"],
            &rows
        )
    );

    println!();
    if let Some(f) = &r.fanout {
        println!(
            "== 3. Watch fan-out: {} watchers on one namespace, {} ConfigMap creates (conc {}, {:.0}/s)",
            f.watchers,
            f.writes,
            opts.watch_write_concurrency,
            f.writes as f64 / f.write_elapsed.as_secs_f64()
        );
        let [s50, s99, smax] = lat(&f.lag_from_send);
        let [a50, a99, amax] = lat(&f.lag_from_ack);
        let rows = vec![
            vec![
                "receive - write sent".into(),
                s50,
                s99,
                smax,
                "n/a [b]".into(),
            ],
            vec![
                "receive - write acknowledged".into(),
                a50,
                a99,
                amax,
                "n/a [b]".into(),
            ],
        ];
        print!(
            "{}",
            table(&["delivery lag", "p50", "p99", "max", "upstream"], &rows)
        );
        println!(
            "deliveries: expected {}, missing {} (watchers with a gap: {}), duplicates {}{}",
            f.watchers * f.writes,
            f.missing,
            f.watchers_missing,
            f.duplicates,
            if f.missing == 0 {
                "  -- every watcher received every event"
            } else {
                "  -- INCOMPLETE"
            }
        );
        println!();
    }

    println!("== 4. kube-apiserver memory (VmRSS)");
    let rows: Vec<Vec<String>> = r
        .rss
        .iter()
        .map(|(what, b)| vec![what.clone(), fmt_mib(*b), "n/a".into()])
        .collect();
    print!("{}", table(&["when", "RSS", "upstream"], &rows));

    println!();
    println!("[a] {SLO_DOC}: mutating single-object calls p99 <= 1s; read-only calls p99 <= 1s (resource),");
    println!("    <= 5s (namespace), <= 30s (cluster scope); measured there per cluster-day, here per run.");
    println!("[b] {WATCH_DOC}: watch latency SLI is WIP, no threshold defined upstream.");
    println!("latency = client send to last byte of the response, over HTTP/2 with client-cert TLS on loopback.");
    println!("total bench time: {:.0}s", total.as_secs_f64());
}
