//! `weir mirror`: the replicator alone (like `connect-mirror-maker.sh`), and
//! `weir mirror topics|groups` to change a running flow's filters (like SRM's
//! `srm-control`), and `weir mirror promote|failover` for offset-preserving
//! mirror topics.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use weir_mirror::live::Kind;
use weir_mirror::{MirrorConfig, MirrorStatus};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MirrorArgs {
    #[command(subcommand)]
    action: Option<MirrorAction>,
    /// MirrorMaker 2 properties file (clusters, {alias}.bootstrap.servers, A->B.enabled, ...).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Run only the flows into these clusters (as connect-mirror-maker.sh --clusters).
    #[arg(long, num_args = 1.., value_name = "ALIAS")]
    clusters: Vec<String>,
    /// Serve Prometheus /metrics, /health and /api/v1/mirror/flows here, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
}

#[derive(Subcommand)]
enum MirrorAction {
    /// Change which topics a flow mirrors, while it runs (like srm-control topics).
    Topics(FilterArgs),
    /// Change which consumer groups a flow checkpoints, while it runs (like srm-control groups).
    Groups(FilterArgs),
    /// Make a read-only mirror topic (weir.mirror.source set) writable.
    Promote {
        /// The cluster that holds the mirror topic.
        #[arg(long, value_name = "HOST:PORT")]
        bootstrap_server: String,
        #[arg(long, value_name = "TOPIC")]
        topic: String,
    },
    /// Promote every mirror topic of a preserve-mode flow and copy the source's
    /// committed group offsets to the target verbatim.
    Failover(FlowArgs),
}

#[derive(Args)]
struct FilterArgs {
    #[command(flatten)]
    flow: FlowArgs,
    /// Patterns (regular expressions, comma-separated) to mirror from now on.
    #[arg(long, value_delimiter = ',', value_name = "PATTERNS")]
    add: Vec<String>,
    /// Patterns to stop mirroring.
    #[arg(long, value_delimiter = ',', value_name = "PATTERNS")]
    remove: Vec<String>,
}

#[derive(Args)]
struct FlowArgs {
    /// The MirrorMaker 2 properties file the flows run with.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The flow, as SOURCE->TARGET (or give --source and --target).
    #[arg(long, value_name = "SOURCE->TARGET")]
    flow: Option<String>,
    #[arg(long, value_name = "ALIAS")]
    source: Option<String>,
    #[arg(long, value_name = "ALIAS")]
    target: Option<String>,
}

impl FlowArgs {
    /// The config and the enabled flow named.
    fn resolve(&self) -> Result<(MirrorConfig, weir_mirror::Flow)> {
        let (source, target) = match (&self.flow, &self.source, &self.target) {
            (Some(f), None, None) => match f.split_once("->") {
                Some((s, t)) => (s.trim().to_string(), t.trim().to_string()),
                None => bail!("--flow expects SOURCE->TARGET, got '{f}'"),
            },
            (None, Some(s), Some(t)) => (s.clone(), t.clone()),
            _ => bail!("name the flow: --flow SOURCE->TARGET, or --source ALIAS --target ALIAS"),
        };
        let cfg = load_config(&self.config, &[])?;
        let Some(flow) = cfg.flows.iter().find(|f| f.source == source && f.target == target).cloned() else {
            let flows: Vec<String> = cfg.flows.iter().map(|f| f.name()).collect();
            bail!("no enabled flow {source}->{target} in {} (flows: {})", self.config.display(), flows.join(", "));
        };
        Ok((cfg, flow))
    }
}

/// Reads an MM2 properties file, logging the keys nobody reads.
pub fn load_config(path: &std::path::Path, clusters: &[String]) -> Result<MirrorConfig> {
    let cfg = MirrorConfig::load(path, clusters).with_context(|| format!("mirror config {}", path.display()))?;
    for key in &cfg.unused {
        tracing::info!(key = %key, "mirror config key accepted but not used");
    }
    Ok(cfg)
}

/// Running mirror flows: `weir mirror ready flows=A->B,...` is printed once every
/// flow runs.
pub struct MirrorFlows {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl MirrorFlows {
    pub fn start(cfg: MirrorConfig, status: MirrorStatus) -> MirrorFlows {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            weir_mirror::runner::run(cfg, flag, status, |names| {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "weir mirror ready flows={}", names.join(","));
                let _ = out.flush();
            })
        });
        MirrorFlows { stop, thread }
    }

    /// Stops the flows after their last checkpoint.
    pub async fn stop(self) {
        tracing::info!("stopping the mirror flows");
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join()).await.ok();
    }
}

/// Keeps the replicator's heap: every record it copies is a librdkafka malloc'ed
/// copy until the target acknowledges it, so glibc's default (give the top of the
/// heap back, take it again a moment later) made each copied megabyte fault in
/// fresh zeroed pages (in a profile of the first version, 12 % of the process's
/// samples were the kernel's `clear_page` under `malloc`). The heap then stays at its high-water mark, which librdkafka's
/// queue bounds (`queue.buffering.max.kbytes`, `queued.max.messages.kbytes`) cap.
/// Called before the runtime starts any thread.
pub fn keep_heap() {
    // SAFETY: mallopt only changes allocator parameters.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        // Up to 32 MiB (glibc's bound) from the heap, so fetch buffers are reused.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

pub async fn run(args: MirrorArgs) -> Result<()> {
    match args.action {
        Some(MirrorAction::Topics(f)) => return change_filter(f, Kind::Topics).await,
        Some(MirrorAction::Groups(f)) => return change_filter(f, Kind::Groups).await,
        Some(MirrorAction::Failover(f)) => return failover(f).await,
        Some(MirrorAction::Promote { bootstrap_server, topic }) => {
            let client = [("bootstrap.servers".to_string(), bootstrap_server)].into_iter().collect();
            let t = topic.clone();
            let source = tokio::task::spawn_blocking(move || weir_mirror::promote::promote(&client, &t)).await??;
            println!("promoted {topic} (was a mirror of {source})");
            return Ok(());
        }
        None => {}
    }
    let Some(config) = args.config else { bail!("--config FILE is required: the MirrorMaker 2 properties file") };
    let cfg = load_config(&config, &args.clusters)?;
    let signals = crate::Signals::install()?;
    let metrics = weir_manager_ui::install_recorder()?;
    let status = MirrorStatus::default();
    let listener = match &args.metrics_addr {
        Some(addr) => Some(weir_manager_ui::Console::start_without_broker(metrics, status.clone(), addr).await?),
        None => None,
    };
    let flows = MirrorFlows::start(cfg, status);
    signals.wait().await;
    flows.stop().await;
    if let Some(l) = listener {
        l.shutdown().await;
    }
    Ok(())
}

/// `weir mirror topics|groups`: the admin call of `weir_mirror::live`.
async fn change_filter(args: FilterArgs, kind: Kind) -> Result<()> {
    let (cfg, flow) = args.flow.resolve()?;
    let (source, target) = (flow.source.clone(), flow.target.clone());
    let changes = tokio::task::spawn_blocking(move || {
        if args.add.is_empty() && args.remove.is_empty() {
            weir_mirror::live::FilterReader::new(&cfg, &flow).map(|r| r.current)
        } else {
            weir_mirror::live::change(&cfg, &flow, kind, &args.add, &args.remove)
        }
    })
    .await??;
    let (added, removed) = match kind {
        Kind::Topics => (changes.topics_added, changes.topics_removed),
        Kind::Groups => (changes.groups_added, changes.groups_removed),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{source}->{target} added: {}", added.join(", "))?;
    writeln!(out, "{source}->{target} removed: {}", removed.join(", "))?;
    Ok(())
}

/// `weir mirror failover`: promotes a preserve-mode flow's mirror topics and
/// moves its groups' offsets to the target.
async fn failover(args: FlowArgs) -> Result<()> {
    let (cfg, flow) = args.resolve()?;
    if flow.mode != weir_mirror::Mode::Preserve {
        bail!("flow {} copies records anew (mirror.mode=copy): there are no mirror topics to fail over; its consumer groups move with the translated offsets of sync.group.offsets.enabled", flow.name());
    }
    let name = flow.name();
    let report = tokio::task::spawn_blocking(move || weir_mirror::failover::failover(&cfg, &flow)).await??;
    let mut out = std::io::stdout().lock();
    if let Some(why) = &report.source_error {
        writeln!(out, "source not reachable ({why}): group offsets from the flow's last checkpoints")?;
    }
    for (remote, source) in &report.promoted {
        writeln!(out, "promoted {remote} (was a mirror of {source})")?;
    }
    for remote in &report.already_promoted {
        writeln!(out, "{remote} was promoted before")?;
    }
    for (group, partitions) in &report.groups {
        writeln!(out, "group {group}: offsets of {partitions} partitions copied")?;
    }
    for (group, why) in &report.skipped {
        writeln!(out, "group {group}: not moved, {why}")?;
    }
    if report.promoted.is_empty() && report.already_promoted.is_empty() {
        writeln!(out, "{name}: no mirror topics to promote")?;
    }
    Ok(())
}
