//! Kafka → job → Kafka throughput (issue 6, item 7): Sluice jobs reading a Kafka topic and
//! writing a Kafka topic, next to the raw consume + produce speed of the same client
//! (rdkafka, bundled librdkafka, same configuration) on the same broker in the same run.
//!
//! ```sh
//! export SLUICE_KAFKA_BOOTSTRAP=$(bash scripts/kafka-broker.sh start)   # or any broker
//! cargo bench -p sluice-connect --features kafka --bench kafka_throughput
//! bash scripts/kafka-broker.sh stop
//! ```
//! `scripts/bench-kafka.sh` does the three steps with a fresh broker of its own, twice: with
//! librdkafka's defaults and with `fetch.queue.backoff.ms=10` for every client (see "Kafka
//! throughput" in docs/PERFORMANCE.md for why).
//!
//! The input topic (`BENCH_PARTITIONS` partitions, default 4) is filled once per run with
//! `BENCH_EVENTS` (default 1,000,000) page views
//! `{"ts":…,"user_id":…,"url":"/…","referrer":"…"}` (about 90 bytes; 1000 Zipf-skewed URLs;
//! event time 1000 events/s, out of order by up to 3 s, 0.1% late by 10–60 s), generated in
//! memory and dealt round-robin over the partitions by a plain producer. Then, in turns for
//! `BENCH_ROUNDS` rounds (default 3; the table shows the median), each case reads the whole
//! input and, except `consume`, writes a fresh output topic of the same partition count
//! (created before the clock starts, deleted after the check):
//! - `produce`: the plain producer sends the N generated values to a scratch topic and flushes.
//! - `consume`: a plain consumer (`BaseConsumer`, the source's reader settings) assigned every
//!   partition from offset 0, reading until it has the N records, dropping them.
//! - `raw-copy`: the same consumer on the same thread as a plain producer (`BaseProducer`, the
//!   sink's settings) sending each value unchanged to the output topic, flushing at the end.
//!   **The reference** (ratio 1.00): what the client itself does, with no decoding.
//! - `pass-alo`: a Sluice job, `KafkaSource` (`bounded_latest`, all four fields decoded) →
//!   `KafkaSink` (at-least-once), no transformation: every record decoded from JSON into Arrow
//!   and encoded back to JSON.
//! - `pass-eo`: the same with checkpoints every `BENCH_CHECKPOINT_MS` (default 1000) to a
//!   temporary directory and an exactly-once sink (a Kafka transaction per checkpoint).
//! - `window-alo`: the per-URL 5-minute tumbling count (event time on `ts`, 5 s bound), results
//!   keyed by URL to an at-least-once sink.
//! - `window-eo`: the same with checkpoints and an exactly-once sink.
//!
//! The plain loops know where the input begins and ends (offset 0 of a new topic, N records):
//! they neither ask the broker (`Offset::Beginning` costs 0.5 s on tansu) nor wait for the
//! end-of-partition events (which come with the next, empty, fetch response, up to
//! `fetch.wait.max.ms` later). So they are the client's best case; a Sluice job finds its
//! bounds itself at start. The Sluice jobs run at `BENCH_PARALLELISM` (default 2, the
//! Pipeline's default on this 2-core machine: two source tasks, each with its own consumer of
//! two partitions, and a sink task with one producer); the plain cases use one consumer and one
//! producer on one thread.
//!
//! A case's time runs from creating its clients (for a job: from `KafkaSource::new`) until
//! every record is acknowledged. *Start-up* is the part before data flows: for the plain
//! consumer, until its first record is in hand; for a job, until its tasks start (the job
//! report's time starts there): source and sink created, start and end offsets found, readers
//! assigned, and with checkpoints the exactly-once producers fenced. The table also gives the
//! rate over the time after start-up.
//!
//! `BENCH_CASES=raw-copy,pass-alo` runs only some (`raw-copy` always runs: it is the
//! reference). `BENCH_KAFKA_PROPS=fetch.queue.backoff.ms=10,linger.ms=20` sets client
//! properties for every client of every case alike (the Sluice ones through `KafkaConfig`).
//!
//! CPU: this process's CPU time (all threads, librdkafka's included) and, when the broker's
//! pid is known (`BENCH_BROKER_PID`, or `$SLUICE_KAFKA_DIR/pid` as `scripts/kafka-broker.sh`
//! writes it, if that broker's address is the one benchmarked), the broker's: per round over
//! the wall time (in cores: on 2 cores, a sum well below 2 means something waits, a timer or a
//! round trip, rather than computes), and in the table per event (µs, medians).
//!
//! Checks (outside the timing): each output topic is read back (`read_committed`) and must hold
//! exactly N records (copy and pass-through cases), or as many window rows as the job reported,
//! whose counts add up to N less the job's late events (window cases).

use std::collections::HashMap;
use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use sluice_checkpoint::CheckpointStore;
use sluice_connect::{DeadLetters, DeliveryGuarantee, KafkaConfig, KafkaSink, KafkaSource};
use sluice_dataflow::checkpoint::Checkpointing;
use sluice_dataflow::ops::count;
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::{JobReport, Pipeline};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const WINDOW_MS: i64 = 300_000;
const BOUND_MS: u64 = 5_000;
/// Event time of the first event (2026-01-01T00:00:00Z).
const START_MS: i64 = 1_767_225_600_000;
const CATALOG: usize = 1000;
const USERS: u64 = 100_000;
/// How long a read may wait for the rest of a topic before the case fails.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

const CASES: [&str; 7] = ["produce", "consume", "raw-copy", "pass-alo", "pass-eo", "window-alo", "window-eo"];

fn main() {
    if let Err(e) = run() {
        eprintln!("kafka_throughput: {e}");
        std::process::exit(1);
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What every case shares.
struct Bench {
    bootstrap: String,
    /// Client properties for every client (`BENCH_KAFKA_PROPS`).
    props: Vec<(String, String)>,
    partitions: i32,
    parallelism: usize,
    checkpoint: Duration,
    input: String,
    values: Values,
    /// Makes topic names unique within the run (and across runs on one broker).
    run_id: String,
    next_topic: AtomicU64,
}

/// One timed run of a case.
struct Run {
    secs: f64,
    startup: Option<f64>,
    /// This process's CPU seconds (all threads).
    own_cpu: f64,
    /// The broker's CPU seconds, if its pid is known.
    broker_cpu: Option<f64>,
}

/// What a case did, for its check.
struct Outcome {
    /// The topic written, if any.
    output: Option<String>,
    /// The job's report (Sluice cases).
    report: Option<JobReport>,
    /// Whether the output is exactly-once (read it with `read_committed`).
    exactly_once: bool,
    /// Time before the data flows: for a plain consumer until its first record is in hand;
    /// for a job until its tasks start (clients created, offsets and ends resolved, exactly-once
    /// producers initialized).
    startup: Option<Duration>,
    /// Anything to print on the case's line.
    note: String,
}

fn run() -> Result<()> {
    let bootstrap = match std::env::var("SLUICE_KAFKA_BOOTSTRAP") {
        Ok(b) if !b.trim().is_empty() => b.trim().to_string(),
        _ => {
            return Err("SLUICE_KAFKA_BOOTSTRAP is not set: give a broker's host:port, e.g. \
                        `export SLUICE_KAFKA_BOOTSTRAP=$(bash scripts/kafka-broker.sh start)` \
                        (and `bash scripts/kafka-broker.sh stop` afterwards), or run scripts/bench-kafka.sh"
                .into())
        }
    };
    let events: usize = env_or("BENCH_EVENTS", 1_000_000);
    let rounds: usize = env_or::<usize>("BENCH_ROUNDS", 3).max(1);
    let partitions: i32 = env_or::<i32>("BENCH_PARTITIONS", 4).max(1);
    let parallelism: usize = env_or("BENCH_PARALLELISM", 2);
    let checkpoint = Duration::from_millis(env_or("BENCH_CHECKPOINT_MS", 1000));
    let props: Vec<(String, String)> = std::env::var("BENCH_KAFKA_PROPS")
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_string(), v.trim().to_string())),
            None => Err(format!("BENCH_KAFKA_PROPS: `{p}` is not key=value")),
        })
        .collect::<std::result::Result<_, _>>()?;
    let only: Option<Vec<String>> =
        std::env::var("BENCH_CASES").ok().map(|v| v.split(',').map(|c| c.trim().to_owned()).collect());
    if let Some(unknown) = only.iter().flatten().find(|c| !CASES.contains(&c.as_str())) {
        return Err(format!("BENCH_CASES: unknown case `{unknown}` (cases: {})", CASES.join(", ")).into());
    }
    let cases: Vec<&str> = CASES
        .into_iter()
        .filter(|c| *c == "raw-copy" || only.as_ref().is_none_or(|o| o.iter().any(|x| x == c)))
        .collect();

    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut bench = Bench {
        bootstrap,
        props,
        partitions,
        parallelism,
        checkpoint,
        input: String::new(),
        values: Values { buf: Vec::new(), ends: Vec::new() },
        run_id: format!("{}-{}", std::process::id(), nanos % 1_000_000_000),
        next_topic: AtomicU64::new(0),
    };
    bench.check_broker()?;
    bench.values = Values::generate(events);
    let broker_pid = broker_pid(&bench.bootstrap);
    println!(
        "broker {} (pid {}); {events} events, {:.0} MB of values, {partitions} partitions; Sluice jobs at parallelism \
         {parallelism}, checkpoints every {} ms; client properties: {}",
        bench.bootstrap,
        broker_pid.map_or_else(|| "unknown".to_string(), |p| p.to_string()),
        bench.values.bytes() as f64 / 1e6,
        checkpoint.as_millis(),
        if bench.props.is_empty() {
            "librdkafka's defaults".to_string()
        } else {
            bench.props.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
        }
    );

    // The input, once.
    let input = bench.topic("input")?;
    let start = Instant::now();
    bench.produce_values(&input)?;
    let s = start.elapsed().as_secs_f64();
    println!("input topic {input}: produced in {s:.2} s ({:.0} k events/s)", events as f64 / s / 1e3);
    bench.input = input;

    let mut runs: Vec<Vec<Run>> = (0..cases.len()).map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (i, &case) in cases.iter().enumerate() {
            // The output topic is created outside the timing.
            let output = if case == "consume" { None } else { Some(bench.topic(case)?) };
            let (cpu0, broker0) = (self_cpu(), broker_pid.and_then(cpu_of));
            let start = Instant::now();
            let out = bench.case(case, output)?;
            let secs = start.elapsed().as_secs_f64();
            let run = Run {
                secs,
                startup: out.startup.map(|d| d.as_secs_f64()),
                own_cpu: self_cpu() - cpu0,
                broker_cpu: broker0.zip(broker_pid.and_then(cpu_of)).map(|(a, b)| b - a),
            };
            let checked = bench.check(case, &out)?;
            if let Some(topic) = &out.output {
                bench.delete_topic(topic);
            }
            let startup = run.startup.map_or(String::new(), |s| format!("  start-up {s:.2} s"));
            let note = if out.note.is_empty() { String::new() } else { format!(" ({})", out.note) };
            println!(
                "round {round} {case:>10}: {secs:6.2} s {:5.0} k events/s{startup}{note}  cpu: bench {:.2} broker {}  [{checked}]",
                events as f64 / secs / 1e3,
                run.own_cpu / secs,
                run.broker_cpu.map_or(String::from("–"), |c| format!("{:.2}", c / secs)),
            );
            runs[i].push(run);
        }
    }

    let median = |v: Vec<f64>| {
        let mut v = v;
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let med = |i: usize, f: &dyn Fn(&Run) -> Option<f64>| median(runs[i].iter().filter_map(f).collect());
    let reference = cases.iter().position(|c| *c == "raw-copy");
    let ref_secs = reference.and_then(|r| med(r, &|r| Some(r.secs)));
    let ref_steady = reference.and_then(|r| med(r, &|r| r.startup.map(|s| r.secs - s)));
    println!(
        "\nmedian of {rounds} round(s): {events} events ({:.0} MB of values), {partitions} partitions, broker {}, \
         Sluice parallelism {parallelism}",
        bench.values.bytes() as f64 / 1e6,
        bench.bootstrap
    );
    println!(
        "| case | seconds | events/s | ratio to raw-copy | start-up s | events/s after start-up | ratio after \
         start-up | CPU µs/event bench / broker |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let fmt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or(String::from("–"), f);
    let per_event = |cpu: f64| format!("{:.2}", cpu / events as f64 * 1e6);
    for (i, case) in cases.iter().enumerate() {
        let secs = med(i, &|r| Some(r.secs)).unwrap_or(f64::NAN);
        let steady = med(i, &|r| r.startup.map(|s| r.secs - s));
        let rate = |s: f64| format!("{:.0} k", events as f64 / s / 1e3);
        println!(
            "| {case} | {secs:.2} | {} | {} | {} | {} | {} | {} / {} |",
            rate(secs),
            fmt(ref_secs, &|r| format!("{:.2}", r / secs)),
            fmt(med(i, &|r| r.startup), &|s| format!("{s:.2}")),
            fmt(steady, &rate),
            fmt(ref_steady.zip(steady).map(|(r, s)| r / s), &|x| format!("{x:.2}")),
            fmt(med(i, &|r| Some(r.own_cpu)), &per_event),
            fmt(med(i, &|r| r.broker_cpu), &per_event),
        );
    }
    bench.delete_topic(&bench.input);
    Ok(())
}

impl Bench {
    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        for (k, v) in &self.props {
            c.set(k, v);
        }
        c
    }

    fn kafka_config(&self) -> KafkaConfig {
        self.props.iter().fold(KafkaConfig::new(&self.bootstrap), |c, (k, v)| c.property(k, v))
    }

    /// Fails clearly when the broker cannot be reached.
    fn check_broker(&self) -> Result<()> {
        let consumer: BaseConsumer = self.client().create()?;
        consumer.fetch_metadata(None, Duration::from_secs(10)).map_err(|e| {
            format!(
                "cannot reach the broker at SLUICE_KAFKA_BOOTSTRAP={} ({e}); start one with \
                 `bash scripts/kafka-broker.sh start`",
                self.bootstrap
            )
        })?;
        Ok(())
    }

    /// Creates a fresh topic with the bench's partition count.
    fn topic(&self, what: &str) -> Result<String> {
        let name =
            format!("kbench-{what}-{}-{}", self.run_id, self.next_topic.fetch_add(1, Ordering::Relaxed));
        let admin: AdminClient<DefaultClientContext> = self.client().create()?;
        let new = NewTopic::new(&name, self.partitions, TopicReplication::Fixed(1));
        for r in futures_executor::block_on(admin.create_topics([&new], &AdminOptions::new()))? {
            r.map_err(|(t, e)| format!("creating topic {t}: {e}"))?;
        }
        Ok(name)
    }

    /// Deletes a topic to give the broker its memory back (best effort).
    fn delete_topic(&self, name: &str) {
        if let Ok(admin) = self.client().create::<AdminClient<DefaultClientContext>>() {
            let _ = futures_executor::block_on(admin.delete_topics(&[name], &AdminOptions::new()));
        }
    }

    /// Runs `case`, writing to `output`.
    fn case(&self, case: &str, output: Option<String>) -> Result<Outcome> {
        let plain = |output, startup| Outcome {
            output,
            report: None,
            exactly_once: false,
            startup,
            note: String::new(),
        };
        match (case, output) {
            ("produce", Some(topic)) => {
                self.produce_values(&topic)?;
                Ok(plain(Some(topic), None))
            }
            ("consume", None) => {
                let first = self.copy(None)?;
                Ok(plain(None, Some(first)))
            }
            ("raw-copy", Some(topic)) => {
                let first = self.copy(Some(&topic))?;
                Ok(plain(Some(topic), Some(first)))
            }
            ("pass-alo" | "pass-eo" | "window-alo" | "window-eo", Some(topic)) => self.job(case, topic),
            _ => Err(format!("unknown case {case}").into()),
        }
    }

    /// The plain producer: the sink's configuration (no properties beyond the user's).
    fn producer(&self) -> Result<BaseProducer<Deliveries>> {
        Ok(self.client().create_with_context(Deliveries::default())?)
    }

    /// Sends the generated values round-robin over the partitions, then flushes.
    fn produce_values(&self, topic: &str) -> Result<()> {
        let producer = self.producer()?;
        for (i, value) in self.values.iter().enumerate() {
            let partition = i32::try_from(i % self.partitions as usize)?;
            let record = BaseRecord::<(), [u8]>::to(topic).partition(partition).payload(value);
            send(&producer, record)?;
        }
        finish(&producer)
    }

    /// Reads the input with a plain consumer; with `output`, sends each value unchanged there
    /// (the partitioner picks the partition, as in the sink) and flushes. The time until the
    /// first record was in hand.
    ///
    /// It starts at offset 0 (the topic is new) and stops at the N-th record: it knows where
    /// the input begins and ends, so it neither asks the broker (`Offset::Beginning` costs
    /// 0.5 s on tansu) nor waits for the end-of-partition events (which come only with the
    /// next, empty fetch response, up to `fetch.wait.max.ms` = 500 ms later).
    fn copy(&self, output: Option<&str>) -> Result<Duration> {
        let start = Instant::now();
        // The source's reader configuration (see `offsets::consumer`).
        let consumer: BaseConsumer = self
            .client()
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("group.id", "sluice-assign")
            .create()?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..self.partitions {
            tpl.add_partition_offset(&self.input, p, Offset::Offset(0))?;
        }
        consumer.assign(&tpl)?;
        let producer = output.map(|_| self.producer()).transpose()?;
        let n = self.values.len();
        let mut read = 0usize;
        let mut first = None;
        let deadline = Instant::now() + READ_TIMEOUT;
        while read < n {
            if Instant::now() > deadline {
                return Err(format!("reading {}: {read} records after {READ_TIMEOUT:?}", self.input).into());
            }
            match consumer.poll(Duration::from_millis(100)) {
                None | Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => return Err(format!("reading {}: {e}", self.input).into()),
                Some(Ok(m)) => {
                    read += 1;
                    first.get_or_insert_with(|| start.elapsed());
                    if let (Some(producer), Some(topic)) = (&producer, output) {
                        let record =
                            BaseRecord::<(), [u8]>::to(topic).payload(m.payload().unwrap_or_default());
                        send(producer, record)?;
                        if read.is_multiple_of(1024) {
                            producer.poll(Duration::ZERO);
                        }
                    }
                }
            }
        }
        if let Some(producer) = &producer {
            finish(producer)?;
        }
        Ok(first.unwrap_or_default())
    }

    /// A Sluice job over the input: pass-through or the page-view count, at-least-once or
    /// with checkpoints and exactly-once.
    fn job(&self, case: &str, output: String) -> Result<Outcome> {
        let exactly_once = case.ends_with("-eo");
        let window = case.starts_with("window");
        let checkpoints = tempfile::tempdir()?;
        let start = Instant::now();
        let config = self.kafka_config();
        // The pass-through decodes every field (so the output carries them all); the count
        // only the two it needs.
        let mut fields = vec![Field::new("ts", DataType::Int64, false)];
        if !window {
            fields.push(Field::new("user_id", DataType::Int64, true));
        }
        fields.push(Field::new("url", DataType::Utf8, false));
        if !window {
            fields.push(Field::new("referrer", DataType::Utf8, true));
        }
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let source = KafkaSource::new(config.clone(), &self.input, schema)?
            .bounded_latest()
            .strict(true)
            .dead_letters(DeadLetters::memory());
        let source_new = start.elapsed();
        let mut sink = KafkaSink::new(config, &output)?;
        let sink_new = start.elapsed() - source_new;
        if exactly_once {
            sink = sink
                .delivery_guarantee(DeliveryGuarantee::ExactlyOnce)
                .transactional_id_prefix(&format!("{output}-txn"))?;
        }
        let mut pipeline = Pipeline::new(case).parallelism(self.parallelism).source(source);
        if window {
            pipeline = pipeline
                .event_time("ts", Duration::from_millis(BOUND_MS))
                .key_by(["url"])
                .window(WindowSpec::tumbling(WINDOW_MS)?)
                .aggregate([count().as_("views")]);
            sink = sink.key_columns(["url"]);
        }
        pipeline = pipeline.sink(sink);
        if exactly_once {
            let dir = checkpoints.path().to_str().ok_or("temporary directory is not UTF-8")?;
            let store = CheckpointStore::open(dir, case)?;
            pipeline = pipeline.checkpointing(Checkpointing::new(store).interval(self.checkpoint));
        }
        let report = pipeline.run()?;
        // The report's time starts when the tasks do.
        let startup = start.elapsed().saturating_sub(report.elapsed);
        let note = format!(
            "source::new {:.2} s, sink::new {:.2} s, {} checkpoints",
            source_new.as_secs_f64(),
            sink_new.as_secs_f64(),
            report.checkpoints
        );
        Ok(Outcome { output: Some(output), report: Some(report), exactly_once, startup: Some(startup), note })
    }

    /// Reads `out`'s topic back and checks it; a short description of what was checked.
    fn check(&self, case: &str, out: &Outcome) -> Result<String> {
        let n = self.values.len() as u64;
        let Some(topic) = &out.output else { return Ok(String::from("read all")) };
        if let Some(r) = &out.report {
            if r.records_in != n {
                return Err(format!("{case}: the job read {} records, expected {n}", r.records_in).into());
            }
        }
        let window = case.starts_with("window");
        let (records, views) = self.read_back(topic, out.exactly_once, window)?;
        match &out.report {
            Some(r) if window => {
                if records != r.windows_emitted || views + r.records_late != n {
                    return Err(format!(
                        "{case}: {records} rows in {topic} (job: {}), counting {views} views + {} late, expected {n}",
                        r.windows_emitted, r.records_late
                    )
                    .into());
                }
                Ok(format!("{records} rows, {views} views + {} late", r.records_late))
            }
            _ if records != n => Err(format!("{case}: {records} records in {topic}, expected {n}").into()),
            _ => Ok(format!("{records} out")),
        }
    }

    /// The records of `topic`, and with `views` the sum of their `views` fields.
    fn read_back(&self, topic: &str, committed: bool, views: bool) -> Result<(u64, u64)> {
        let consumer: BaseConsumer = self
            .client()
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("group.id", "sluice-kbench-check")
            .set("isolation.level", if committed { "read_committed" } else { "read_uncommitted" })
            .create()?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..self.partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        consumer.assign(&tpl)?;
        let mut ended = vec![false; self.partitions as usize];
        let (mut records, mut sum) = (0u64, 0u64);
        let deadline = Instant::now() + READ_TIMEOUT;
        while ended.iter().any(|e| !e) {
            if Instant::now() > deadline {
                return Err(format!("reading back {topic}: {records} records after {READ_TIMEOUT:?}").into());
            }
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    if let Some(e) = usize::try_from(p).ok().and_then(|p| ended.get_mut(p)) {
                        *e = true;
                    }
                }
                Some(Err(e)) => return Err(format!("reading back {topic}: {e}").into()),
                Some(Ok(m)) => {
                    records += 1;
                    if views {
                        let row: HashMap<String, serde_json::Value> =
                            serde_json::from_slice(m.payload().unwrap_or_default())?;
                        sum += row
                            .get("views")
                            .and_then(serde_json::Value::as_u64)
                            .ok_or("a row without views")?;
                    }
                }
            }
        }
        Ok((records, sum))
    }
}

/// Counts failed deliveries (the sink's producer context does the same with the first error).
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends one record, serving acknowledgements while the client's queue is full (as the sink).
fn send(producer: &BaseProducer<Deliveries>, mut record: BaseRecord<'_, (), [u8]>) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(Duration::from_millis(50));
                record = back;
            }
            Err((e, _)) => return Err(format!("sending: {e}").into()),
        }
    }
}

/// Waits for every acknowledgement; an error if a delivery failed.
fn finish(producer: &BaseProducer<Deliveries>) -> Result<()> {
    producer.flush(Duration::from_secs(60))?;
    match producer.context().failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(format!("{n} records were not delivered").into()),
    }
}

/// The generated values, one buffer split at `ends`.
struct Values {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Values {
    /// `n` page views (see the module docs), the same every run.
    fn generate(n: usize) -> Values {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let weights: Vec<f64> = (1..=CATALOG).map(|rank| (rank as f64).powf(-1.1)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf: Vec<f64> = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        let urls: Vec<String> = (0..CATALOG)
            .map(|i| match i % 4 {
                0 => format!("/products/p{i:06}"),
                1 => format!("/blog/post-{i}"),
                2 => format!("/category/c{i}"),
                _ => format!("/help/article-{i}"),
            })
            .collect();
        const REFERRERS: [&str; 4] =
            ["", "https://www.google.com/", "https://shop.example.com/", "https://x.com/"];
        let mut buf = Vec::with_capacity(n * 100);
        let mut ends = Vec::with_capacity(n);
        for i in 0..n {
            let delay = if rng.next_f64() < 0.001 {
                10_000 + (rng.next_u64() % 50_000) as i64
            } else {
                let u = rng.next_f64();
                (u * u * u * 3000.0) as i64
            };
            let ts = START_MS + i as i64 - delay;
            let u = rng.next_f64();
            let url = &urls[cdf.partition_point(|&c| c <= u).min(CATALOG - 1)];
            let user = rng.next_u64() % USERS;
            let referrer = REFERRERS[(rng.next_u64() % 4) as usize];
            let line = format!(r#"{{"ts":{ts},"user_id":{user},"url":"{url}","referrer":"{referrer}"}}"#);
            buf.extend_from_slice(line.as_bytes());
            ends.push(buf.len());
        }
        Values { buf, ends }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn bytes(&self) -> usize {
        self.buf.len()
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.ends.iter().scan(0, |start, &end| {
            let v = &self.buf[*start..end];
            *start = end;
            Some(v)
        })
    }
}

/// xorshift64*: reproducible, no dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The broker's pid: `BENCH_BROKER_PID`, or the one `scripts/kafka-broker.sh` wrote if that
/// broker is the one at `bootstrap`.
fn broker_pid(bootstrap: &str) -> Option<u32> {
    if let Ok(pid) = std::env::var("BENCH_BROKER_PID") {
        return pid.trim().parse().ok();
    }
    let dir = std::env::var("SLUICE_KAFKA_DIR").ok().map(std::path::PathBuf::from).or_else(|| {
        std::env::var("HOME").ok().map(|h| std::path::Path::new(&h).join(".cache/sluice/kafka-broker"))
    })?;
    let address = std::fs::read_to_string(dir.join("bootstrap")).ok()?;
    if address.trim() != bootstrap {
        return None;
    }
    std::fs::read_to_string(dir.join("pid")).ok()?.trim().parse().ok()
}

/// User + system CPU seconds of process `pid` (Linux `/proc`, 100 ticks a second).
fn cpu_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn self_cpu() -> f64 {
    cpu_of(std::process::id()).unwrap_or(f64::NAN)
}
