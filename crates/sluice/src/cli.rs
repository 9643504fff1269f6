//! The command line, as clap types. Parsing only: each subcommand's behaviour lives in
//! `cmd/<name>.rs`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sluice_log::{Durability, StartFrom};

/// Sluice: an embedded, durable, partitioned event log (and, later, a stream processor).
#[derive(Debug, Parser)]
#[command(name = "sluice", version, propagate_version = true)]
pub struct Cli {
    /// Data directory holding topics and consumer-group offsets.
    #[arg(long, global = true, value_name = "DIR", env = "SLUICE_DATA_DIR", default_value = "./sluice-data")]
    pub data_dir: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, describe and delete topics.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Append JSON lines (from stdin or a file) to a topic, one record per line.
    Produce(ProduceArgs),
    /// Print a topic's records as lines.
    Consume(ConsumeArgs),
    /// Generate sample data on stdout.
    #[command(subcommand)]
    Gen(GenCommand),
    /// The streaming demo: generate page views into a topic and count them per URL in
    /// 5-minute tumbling windows, live.
    ///
    /// Uses a fresh temporary data directory (removed at the end) unless --data-dir or
    /// SLUICE_DATA_DIR is given; there it (re)creates the topics demo_page_views,
    /// demo_window_counts, demo_late_views and demo_dead_letters.
    Demo(DemoArgs),
    /// Run a SQL job file: CREATE TABLE / CREATE VIEW / SET statements and one or more
    /// INSERT INTO ... SELECT (Flink SQL), all INSERTs together as one job. Bounded inputs end
    /// the job when consumed; unbounded ones run until Ctrl-C.
    Run(RunArgs),
    /// Print the streaming plan of a SQL job file without running it.
    Explain(ExplainArgs),
    /// Take a savepoint of a running `sluice run` job (with checkpointing on) and print its
    /// folder, for `sluice run --from-savepoint`. With --stop the job then stops.
    Savepoint(SavepointArgs),
}

/// `sluice run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The SQL file.
    pub file: PathBuf,
    /// Parallel window tasks (and at most as many source tasks) of each INSERT
    /// [default: SET 'parallelism.default', else 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub parallelism: Option<u64>,
    /// Take exactly-once checkpoints this often (Flink's syntax: 10s, 500ms, 1min), into
    /// <data-dir>/checkpoints unless the file sets 'state.checkpoints.dir' [default: SET
    /// 'execution.checkpointing.interval', else no checkpoints]. A rerun of the job (same
    /// 'pipeline.name', else file name) resumes from its latest complete checkpoint.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub checkpoint_interval: Option<Duration>,
    /// Start over instead of resuming from the job's latest checkpoint.
    #[arg(long, conflicts_with = "from_savepoint")]
    pub fresh: bool,
    /// Start from this savepoint folder (as `sluice savepoint` prints it), or a checkpoint
    /// folder <dir>/<job>/chk-<id>; the parallelism may differ from the savepoint's.
    #[arg(long, value_name = "PATH")]
    pub from_savepoint: Option<PathBuf>,
    /// Run as one instance of a job spread over several: the instances join the Kafka source's
    /// consumer group ('properties.group.id', else the job's name), which shares the topic's
    /// partitions among them; each partition's state moves through the checkpoint directory
    /// they share ('state.checkpoints.dir'). Needs one INSERT from a Kafka topic into an
    /// exactly-once Kafka topic. Ctrl-C stops the instance after a checkpoint.
    #[arg(long, conflicts_with_all = ["from_savepoint", "fresh"])]
    pub scale_out: bool,
}

/// `sluice savepoint`
#[derive(Debug, Args)]
pub struct SavepointArgs {
    /// The job's name: its 'pipeline.name', else its file name without `.sql`.
    pub job: String,
    /// Stop the job once the savepoint is complete (windows stay open in the savepoint).
    #[arg(long)]
    pub stop: bool,
    /// The savepoint's name [default: savepoint-<UTC date and time>].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// How long to wait for the savepoint.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    sluice_sql::settings::parse_duration(s)
}

/// `sluice explain`
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The SQL file.
    pub file: PathBuf,
}

/// `sluice topic ...`
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    Create(CreateArgs),
    /// List topics, one per line: name and number of partitions.
    List,
    /// Show a topic's partitions: offsets, segments, bytes and newest timestamp.
    Describe {
        /// Topic name.
        name: String,
    },
    /// Delete a topic, its data and the consumer-group offsets committed for it.
    Delete {
        /// Topic name.
        name: String,
    },
}

/// `sluice topic create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Topic name: letters, digits, '.', '_' and '-'.
    pub name: String,
    /// Number of partitions (1 to 10000); fixed for the topic's life.
    #[arg(long)]
    pub partitions: u32,
    /// Delete closed segments whose newest record is older than this many milliseconds
    /// [default: keep forever].
    #[arg(long, value_name = "MS")]
    pub retention_ms: Option<u64>,
    /// Delete the oldest closed segments while a partition is larger than this many bytes
    /// [default: no limit].
    #[arg(long, value_name = "B")]
    pub retention_bytes: Option<u64>,
    /// Roll to a new segment file at this size (1 KiB to 4 GiB) [default: 128 MiB].
    #[arg(long, value_name = "B")]
    pub segment_bytes: Option<u64>,
}

/// `sluice produce`
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to append to.
    pub topic: String,
    /// Read JSON lines from this file instead of stdin.
    #[arg(long, value_name = "F")]
    pub file: Option<PathBuf>,
    /// Take the record key from this top-level field (string, number or bool; a missing or
    /// null field makes a keyless record). The key chooses the partition.
    #[arg(long, value_name = "FIELD")]
    pub key: Option<String>,
    /// Take the event time from this top-level field: epoch milliseconds or an RFC 3339
    /// string [default: the append time].
    #[arg(long, value_name = "FIELD")]
    pub timestamp: Option<String>,
    /// Append every record to this partition instead of choosing by key.
    #[arg(long, value_name = "P")]
    pub partition: Option<u32>,
    /// When appended data is fsynced: before each append returns, at most 1 s later, or when
    /// the OS decides.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Interval)]
    pub durability: DurabilityArg,
    /// Lines per append call.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
}

/// `--durability`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DurabilityArg {
    /// Fsync before each append returns: nothing acknowledged is lost, even on power loss.
    EveryBatch,
    /// Fsync at most 1 s after a write (a power loss can lose up to about 1 s).
    Interval,
    /// Leave write-back to the OS (segments are still fsynced on roll and close).
    Os,
}

impl From<DurabilityArg> for Durability {
    fn from(d: DurabilityArg) -> Self {
        match d {
            DurabilityArg::EveryBatch => Durability::EveryBatch,
            DurabilityArg::Interval => Durability::Interval(Duration::from_secs(1)),
            DurabilityArg::Os => Durability::Os,
        }
    }
}

/// `sluice consume`
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to read.
    pub topic: String,
    /// Consumer group: start from its committed offsets and commit what was printed.
    #[arg(long, value_name = "G")]
    pub group: Option<String>,
    /// Where to start: earliest, latest, committed, or an RFC 3339 time such as
    /// 2026-01-01T12:00:00Z (the first record at or after it) [default: committed with
    /// --group, else earliest].
    #[arg(long, value_name = "WHERE", value_parser = parse_start)]
    pub from: Option<StartFrom>,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// Read only this partition.
    #[arg(long, value_name = "P")]
    pub partition: Option<u32>,
    /// Keep waiting for new records at the end instead of exiting (Ctrl-C to stop).
    #[arg(long)]
    pub follow: bool,
    /// Print each record as a JSON object with topic, partition, offset, timestamp, key and
    /// value.
    #[arg(long)]
    pub with_metadata: bool,
}

/// Parses `--from`.
fn parse_start(s: &str) -> Result<StartFrom, String> {
    match s {
        "earliest" => Ok(StartFrom::Earliest),
        "latest" => Ok(StartFrom::Latest),
        "committed" => Ok(StartFrom::Committed),
        _ => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| StartFrom::Timestamp(t.timestamp_millis()))
            .map_err(|e| {
                format!(
                    "expected earliest, latest, committed or an RFC 3339 time such as \
                     2026-01-01T12:00:00Z ({e})"
                )
            }),
    }
}

/// `sluice gen ...`
#[derive(Debug, Subcommand)]
pub enum GenCommand {
    /// Realistic page views as JSON lines:
    /// {"ts": epoch-ms, "user_id": int, "url": "/...", "referrer": "..."}.
    PageViews(PageViewsArgs),
}

/// `sluice gen page-views`
#[derive(Debug, Args)]
pub struct PageViewsArgs {
    /// Number of events.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub count: u64,
    /// Random seed: the same seed gives the same output.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Event time of the first event, in epoch milliseconds (the default is
    /// 2026-01-01T00:00:00Z).
    #[arg(long, value_name = "MS", default_value_t = 1_767_225_600_000)]
    pub start_ms: i64,
    /// Events per second of event time.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
}

/// `sluice demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of page views to generate.
    #[arg(long, value_name = "N", default_value_t = 2_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub events: u64,
    /// Appends per second of wall time (0 = as fast as possible). At the default a 5-minute
    /// window of event time closes about every second.
    #[arg(long, value_name = "EVENTS_PER_SEC", default_value_t = 200_000)]
    pub rate: u64,
    /// Parallel window tasks (and at most as many source tasks). Default = number of cores.
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u64).range(1..))]
    pub parallelism: Option<u64>,
    /// Random seed of the generator: the same seed gives the same events. (Which few events are
    /// late may vary a little between runs: it depends on how the partitions' reads interleave.)
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Tumbling window size in ms of event time (latency benchmark: 1000).
    #[arg(long, value_name = "MS", default_value_t = 300_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub window_ms: i64,
    /// Out-of-orderness bound of the watermark, in ms. A window closes this long (of event
    /// time) after its end.
    #[arg(long, value_name = "MS", default_value_t = 5_000, value_parser = clap::value_parser!(i64).range(0..))]
    pub bound_ms: i64,
    /// Real-time event time, for the latency benchmark: each event's time is the wall clock
    /// when it is generated (in order, no late events), instead of compressed event time.
    /// Use with a non-zero `--rate`.
    #[arg(long)]
    pub realtime: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_start_positions() {
        assert_eq!(parse_start("earliest"), Ok(StartFrom::Earliest));
        assert_eq!(parse_start("latest"), Ok(StartFrom::Latest));
        assert_eq!(parse_start("committed"), Ok(StartFrom::Committed));
        assert_eq!(parse_start("2026-01-01T00:00:01.5Z"), Ok(StartFrom::Timestamp(1_767_225_601_500)));
        assert_eq!(parse_start("2026-01-01T01:00:00+01:00"), Ok(StartFrom::Timestamp(1_767_225_600_000)));
        assert!(parse_start("yesterday").unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
