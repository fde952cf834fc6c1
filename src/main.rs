//! `weir`: the command line that composes the crates (see ARCHITECTURE.md for the
//! contract scripts rely on: flags, `WEIR_*` variables, the `weir ready` line, exit 0
//! after SIGTERM/SIGINT).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use weir_broker::config::file::FileConfig;
use weir_broker::loggers::ApplyFilter;
use weir_broker::{Broker, BrokerConfig, BrokerOptions};

mod mirror_cmd;
mod ops;

/// Huge reservations (a client's claimed array length) get address space, not an abort.
#[global_allocator]
static ALLOCATOR: weir_broker::alloc::Allocator = weir_broker::alloc::Allocator;

#[derive(Parser)]
#[command(name = "weir", version, about = "Kafka-compatible streaming platform in one binary")]
#[command(args_conflicts_with_subcommands = true, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `weir` with no subcommand is `weir serve`.
    #[command(flatten)]
    serve: ServeArgs,
}

const EXAMPLES: &str = "\
Examples:
  weir                                              run the platform (Kafka :9092, registry :8081, console :8080)
  weir topic create orders -p 6 -c retention.ms=86400000
  seq 3 | weir produce orders                       one record per line
  weir consume orders -n 10 --format json
  weir group describe billing
  weir group reset-offsets billing --topic orders --to-earliest --execute
  weir schema register orders-value --schema order.avsc
  weir acl create --allow-principal User:alice --operation read --topic orders
  weir profile create prod --brokers kafka-1:9093 -X security.protocol=SSL
  weir completion bash > /etc/bash_completion.d/weir

Operator commands exit 0 when done, 1 when the cluster or registry refused or
could not be reached (the error names Kafka's or the registry's code), 2 for a
usage error.";

#[derive(Subcommand)]
enum Command {
    /// Run the platform: Kafka broker, schema registry, and the console listener (/metrics, /health).
    Serve(ServeArgs),
    /// Replicate between Kafka clusters from a MirrorMaker 2 properties file, like connect-mirror-maker.sh.
    Mirror(mirror_cmd::MirrorArgs),
    /// Create, list, describe and delete topics of any Kafka-compatible cluster (rpk-style flags).
    Topic(TopicArgs),
    /// List, describe, reset the offsets of, and delete consumer groups (kafka-consumer-groups' operations).
    Group(GroupArgs),
    /// List, describe, reset the start offsets of, and delete share groups (kafka-share-groups' operations).
    ShareGroup(ShareGroupArgs),
    /// Create, list and delete ACLs (rpk security acl's flags).
    Acl(AclArgs),
    /// Create, list and delete SCRAM users.
    User(UserArgs),
    /// The cluster's brokers and controller, its health, and broker configs.
    Cluster(ClusterArgs),
    /// Register, list, get, check and delete schemas of any Confluent-compatible registry.
    Schema(SchemaArgs),
    /// Save connection settings (brokers, -X properties, registry) as named profiles, rpk-style.
    Profile(ProfileArgs),
    /// Print a shell completion script.  e.g. weir completion bash > /etc/bash_completion.d/weir
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write one record per stdin line to a topic (kcat-style: -K key delimiter, -H headers, -p partition).
    Produce {
        #[command(flatten)]
        args: ops::records::ProduceArgs,
        #[command(flatten)]
        conn: ops::Conn,
    },
    /// Print a topic's records (kcat-style: -n count, -o start|end|offset, -g group, -f template, --format json).
    Consume {
        #[command(flatten)]
        args: ops::records::ConsumeArgs,
        #[command(flatten)]
        conn: ops::Conn,
    },
}

#[derive(Args)]
struct ShareGroupArgs {
    #[command(subcommand)]
    command: ops::share_group::ShareGroupCmd,
    #[command(flatten)]
    conn: ops::Conn,
}

#[derive(Args)]
struct GroupArgs {
    #[command(subcommand)]
    command: ops::group::GroupCmd,
    #[command(flatten)]
    conn: ops::Conn,
}

#[derive(Args)]
struct AclArgs {
    #[command(subcommand)]
    command: ops::acl::AclCmd,
    #[command(flatten)]
    conn: ops::Conn,
}

#[derive(Args)]
struct UserArgs {
    #[command(subcommand)]
    command: ops::user::UserCmd,
    #[command(flatten)]
    conn: ops::Conn,
}

#[derive(Args)]
struct ProfileArgs {
    #[command(subcommand)]
    command: ops::profile::ProfileCmd,
    #[command(flatten)]
    conn: ops::Conn,
}

#[derive(Args)]
struct SchemaArgs {
    #[command(subcommand)]
    command: ops::schema::SchemaCmd,
    #[command(flatten)]
    conn: ops::Conn,
}

#[derive(Args)]
struct ClusterArgs {
    #[command(subcommand)]
    command: ops::cluster::ClusterCmd,
    #[command(flatten)]
    conn: ops::Conn,
}

#[derive(Args)]
struct TopicArgs {
    #[command(subcommand)]
    command: ops::topic::TopicCmd,
    #[command(flatten)]
    conn: ops::Conn,
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Config file: TOML (see weir.toml in the repository for every key), or a Kafka
    /// `.properties` file of broker keys (`log.dirs` gives the data directory).
    #[arg(long, env = "WEIR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory [default: ./data]
    #[arg(long, env = "WEIR_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Kafka listener; also the advertised address unless advertised.listeners is set
    /// [default: 127.0.0.1:9092]
    #[arg(long, env = "WEIR_KAFKA_ADDR", value_name = "HOST:PORT")]
    kafka_addr: Option<String>,
    /// Schema registry listener (Confluent REST API) [default: 127.0.0.1:8081]
    #[arg(long, env = "WEIR_REGISTRY_ADDR", value_name = "HOST:PORT")]
    registry_addr: Option<String>,
    /// Console and admin listener: Prometheus /metrics and /health [default: 127.0.0.1:8080]
    #[arg(long, env = "WEIR_CONSOLE_ADDR", value_name = "HOST:PORT")]
    console_addr: Option<String>,
    /// Any broker config key with Kafka's name, e.g. --set auto.create.topics.enable=false
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// MirrorMaker 2 properties file: run its flows inside this process (as `weir mirror`).
    #[arg(long, env = "WEIR_MIRROR_CONFIG", value_name = "FILE")]
    mirror_config: Option<PathBuf>,
}

fn read_config_file(path: &PathBuf) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "properties") {
        let mut broker: BTreeMap<String, String> = weir_mirror::properties::parse(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            .into_iter()
            .collect();
        // Kafka's data directories: Weir keeps one, the first.
        let dirs = broker.remove("log.dirs").or_else(|| broker.remove("log.dir"));
        let data_dir = dirs.and_then(|d| d.split(',').map(str::trim).find(|s| !s.is_empty()).map(PathBuf::from));
        return Ok(FileConfig { data_dir, broker, ..FileConfig::default() });
    }
    weir_broker::config::file::parse_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Every partition holds its active log segment open, so a broker of many
/// partitions needs more descriptors than the usual soft limit of 1,024: raise
/// the soft limit to the hard one, as JVM brokers' start scripts and Go's runtime
/// do. Raising the hard limit stays the operator's choice.
fn raise_open_file_limit() {
    let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 || l.rlim_cur >= l.rlim_max {
            return;
        }
        let from = l.rlim_cur;
        l.rlim_cur = l.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &l) == 0 {
            tracing::debug!(from, to = l.rlim_max, "raised the open-file limit");
        }
    }
}

async fn serve(args: ServeArgs, (log_filter, apply_filter): (String, ApplyFilter)) -> Result<()> {
    // Installed before anything else: a SIGTERM that arrives right after the ready
    // line must still shut down cleanly, not kill the process.
    let signals = Signals::install()?;
    // Before the broker: its metric handles register with the recorder.
    let metrics = weir_manager_ui::install_recorder()?;
    let file = match &args.config {
        Some(p) => read_config_file(p)?,
        None => FileConfig::default(),
    };
    let mut config = BrokerConfig::default();
    for (k, v) in &file.broker {
        config.set(k, v).with_context(|| "in the broker keys of the config file")?;
    }
    // From the environment only (no flag): a password on the command line shows in `ps`.
    if let Ok(users) = std::env::var("WEIR_BOOTSTRAP_USERS") {
        config.set("bootstrap.users", &users).with_context(|| "in WEIR_BOOTSTRAP_USERS")?;
    }
    for kv in &args.set {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("--set expects KEY=VALUE, got '{kv}'");
        };
        config.set(k, v)?;
    }
    for (key, value) in &config.no_effect {
        tracing::info!(%key, %value, "accepted, no effect: a Kafka broker key Weir does not use");
    }
    let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./data"));
    let kafka_addr = args.kafka_addr.or(file.kafka_addr).or_else(|| {
        // The `listeners` key applies only when no address was given explicitly.
        if config.set.contains_key("listeners") {
            None
        } else {
            Some("127.0.0.1:9092".to_string())
        }
    });
    let registry_addr = args.registry_addr.or(file.registry_addr).unwrap_or_else(|| "127.0.0.1:8081".to_string());
    let console_addr = args.console_addr.or(file.console_addr).unwrap_or_else(|| "127.0.0.1:8080".to_string());
    // Read before anything starts, so a bad mirror file stops start-up.
    let mirror_cfg = match args.mirror_config.or(file.mirror_config) {
        Some(path) => Some(mirror_cmd::load_config(&path, &[])?),
        None => None,
    };
    raise_open_file_limit();
    let broker = Broker::start(BrokerOptions { data_dir, kafka_addr, config }).await?;
    broker.handle().loggers().install(&log_filter, apply_filter);
    let addr = broker.local_addr();
    let registry = match weir_registry::Registry::start(broker.handle().clone(), &registry_addr).await {
        Ok(r) => r,
        Err(e) => {
            // The broker is up: stop it cleanly before reporting.
            broker.shutdown().await?;
            return Err(e.into());
        }
    };
    let mirror_status = weir_mirror::MirrorStatus::default();
    let console = match weir_manager_ui::Console::start(
        broker.handle().clone(),
        Some(registry.store()),
        metrics,
        mirror_status.clone(),
        mirror_cfg.clone(),
        &console_addr,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            registry.shutdown().await;
            broker.shutdown().await?;
            return Err(e.into());
        }
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "weir ready kafka={addr} registry={} console={}", registry.local_addr(), console.local_addr())?;
        out.flush()?;
    }
    // The flows start once the broker serves: they may replicate into or out of it.
    let flows = mirror_cfg.map(|cfg| mirror_cmd::MirrorFlows::start(cfg, mirror_status));
    signals.wait().await;
    tracing::info!("shutting down");
    if let Some(f) = flows {
        f.stop().await;
    }
    console.shutdown().await;
    registry.shutdown().await;
    broker.shutdown().await?;
    Ok(())
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// The log filter as RUST_LOG gives it, and the function that replaces it at run
/// time (BROKER_LOGGER levels changed with IncrementalAlterConfigs).
fn init_logging(default: &str) -> (String, ApplyFilter) {
    use tracing_subscriber::{reload, EnvFilter};
    let initial = std::env::var("RUST_LOG").ok().filter(|f| EnvFilter::try_new(f).is_ok()).unwrap_or(default.into());
    let (filter, handle) = reload::Layer::new(EnvFilter::new(&initial));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry().with(filter).with(fmt).init();
    let apply: ApplyFilter = Box::new(move |directives: &str| {
        let filter = EnvFilter::try_new(directives).map_err(|e| format!("bad log filter '{directives}': {e}"))?;
        handle.reload(filter).map_err(|e| e.to_string())
    });
    (initial, apply)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The operator commands print their own outcome; librdkafka's log lines
    // (an end of partition reported as an error) would only repeat or confuse it.
    let quiet = !matches!(cli.command, None | Some(Command::Serve(_) | Command::Mirror(_)));
    let logging = init_logging(if quiet { "warn,rdkafka=off,librdkafka=off" } else { "info" });
    if matches!(cli.command, Some(Command::Mirror(_))) {
        mirror_cmd::keep_heap();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("weir: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Serve(a)) => runtime.block_on(serve(a, logging)),
        Some(Command::Mirror(a)) => runtime.block_on(mirror_cmd::run(a)),
        Some(Command::Topic(a)) => a.conn.with_profile().and_then(|c| runtime.block_on(ops::topic::run(a.command, c))),
        Some(Command::Group(a)) => a.conn.with_profile().and_then(|c| runtime.block_on(ops::group::run(a.command, c))),
        Some(Command::ShareGroup(a)) => {
            a.conn.with_profile().and_then(|c| runtime.block_on(ops::share_group::run(a.command, c)))
        }
        Some(Command::Acl(a)) => a.conn.with_profile().and_then(|c| runtime.block_on(ops::acl::run(a.command, c))),
        Some(Command::User(a)) => a.conn.with_profile().and_then(|c| runtime.block_on(ops::user::run(a.command, c))),
        Some(Command::Cluster(a)) => {
            a.conn.with_profile().and_then(|c| runtime.block_on(ops::cluster::run(a.command, c)))
        }
        Some(Command::Completion { shell }) => {
            use clap::CommandFactory;
            // Generated into memory: clap_complete panics on a failed write (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "weir", &mut script);
            std::io::stdout().write_all(&script).map_err(anyhow::Error::from)
        }
        Some(Command::Profile(a)) => ops::profile::run(a.command, &a.conn, a.conn.given()),
        Some(Command::Schema(a)) => {
            a.conn.with_profile().and_then(|c| runtime.block_on(ops::schema::run(a.command, c)))
        }
        Some(Command::Produce { args, conn }) => {
            conn.with_profile().and_then(|c| runtime.block_on(ops::records::produce(args, c)))
        }
        Some(Command::Consume { args, conn }) => {
            conn.with_profile().and_then(|c| runtime.block_on(ops::records::consume(args, c)))
        }
        None => runtime.block_on(serve(cli.serve, logging)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `weir consume t | head`: the reader has what it wanted.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("weir: {e:#}");
            ExitCode::FAILURE
        }
    }
}
