//! One instance of a job that scales out over its Kafka consumer group (cargo feature `kafka`).
//!
//! The job reads one Kafka topic. Every instance started with the same job (the same
//! `pipeline.name`, consumer group and checkpoint directory) joins the group, and Kafka's group
//! protocol spreads the topic's partitions over the instances, as in Kafka Streams. Each
//! partition is a *task*: the whole job run on that partition alone
//! ([`RunOptions::partition`]), with its own state, checkpoints (job `<name>.p<N>` in the shared
//! store) and transactional ids (`<prefix>.p<N>`). State therefore moves with the partition:
//!
//! - **Revoked** (the group rebalances): the task stops after a checkpoint, inside the
//!   rebalance, before any other instance can be given the partition.
//! - **Assigned:** the task starts from the partition's newest checkpoint whose output
//!   committed, which fences the transactional ids of the partition's previous owner (a
//!   crashed instance's open transactions are aborted) and replays the input from there.
//!
//! The model's limit: there is no exchange between tasks, so a key's rows must all be in one
//! partition for its aggregate to be whole (produce the input keyed by the `GROUP BY` key, as
//! Kafka Streams requires of co-partitioned input). Each task's watermark is its partition's.
//!
//! With a bounded input (`'scan.bounded.mode' = 'latest-offset'`) an instance ends once every
//! partition of the topic is read to its end and committed, by whichever instance (the input
//! offsets an exactly-once Kafka sink commits say so); an unbounded one runs until stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sluice_connect::{Assignment, GroupMember};
use sluice_dataflow::JobReport;

use crate::compile::Script;
use crate::error::{ErrorKind, Pos, Result, SqlError};
use crate::job::{RunOptions, RunningJob};

/// How long a task may take to stop after a checkpoint when its partition is revoked.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// How often an instance with bounded input asks the group which partitions are done.
const FINISHED_POLL: Duration = Duration::from_secs(1);

/// What an instance did, per partition it ran (a partition can run more than once).
#[derive(Debug, Default)]
pub struct ScaleOutReport {
    /// `(partition, report)` of every task that ended, in order.
    pub tasks: Vec<(usize, JobReport)>,
}

/// The instance's tasks, shared with the rebalance handler.
#[derive(Default)]
struct Tasks {
    owned: BTreeSet<usize>,
    running: BTreeMap<usize, RunningJob>,
    reports: Vec<(usize, JobReport)>,
    /// The first task error; the instance stops with it.
    error: Option<SqlError>,
}

impl Tasks {
    /// Stops partition `p`'s task after a checkpoint and waits for it.
    fn release(&mut self, p: usize) {
        let Some(job) = self.running.remove(&p) else { return };
        if !job.is_finished() {
            if let Err(e) = job.control().stop_with_checkpoint(STOP_TIMEOUT) {
                tracing::warn!(partition = p, error = %e, "the task did not stop with a checkpoint");
            }
        }
        self.reap(p, job);
    }

    fn reap(&mut self, p: usize, job: RunningJob) {
        match job.join() {
            Ok(reports) => self.reports.extend(reports.into_iter().map(|(_, r)| (p, r))),
            Err(mut e) => {
                e.message = format!("partition {p}: {}", e.message);
                self.error.get_or_insert(e);
            }
        }
    }
}

fn runtime(message: String) -> SqlError {
    SqlError::new(ErrorKind::Runtime, Pos::default(), message)
}

impl Script {
    /// Runs this job as one instance of a job that scales out over its consumer group, until
    /// every partition is done (bounded input), `stop` is set, or a task fails; see the
    /// [module docs](self). `say` gets a line for the user at each change of the partitions
    /// this instance owns.
    ///
    /// # Errors
    /// The job is not one INSERT reading a Kafka topic into an exactly-once Kafka topic with
    /// checkpoints on; a task failed.
    pub fn run_scaled_out(
        &self,
        options: &RunOptions,
        stop: &AtomicBool,
        say: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> Result<ScaleOutReport> {
        let (config, topic, group, bounded) = self.scale_out_input(options)?;
        let tasks = Arc::new(Mutex::new(Tasks::default()));
        let handler = {
            let tasks = Arc::clone(&tasks);
            move |change: Assignment| {
                let mut t = tasks.lock().unwrap_or_else(PoisonError::into_inner);
                match change {
                    Assignment::Assigned(ps) => {
                        say(&format!("assigned partitions {ps:?}"));
                        t.owned.extend(ps);
                    }
                    Assignment::Revoked(ps) => {
                        say(&format!("partitions {ps:?} revoked: stopping their tasks after a checkpoint"));
                        for p in ps {
                            t.owned.remove(&p);
                            t.release(p);
                        }
                    }
                }
            }
        };
        let mut member =
            GroupMember::join(&config, &topic, &group, handler).map_err(|e| runtime(format!("{e}")))?;
        let mut last_check = Instant::now();
        let outcome = 'run: loop {
            if stop.load(Ordering::SeqCst) {
                break Ok(());
            }
            member.poll(Duration::from_millis(100));
            let mut t = tasks.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(e) = t.error.take() {
                break Err(e);
            }
            // Tasks that ended (their partition's bounded input is read) are joined.
            let ended: Vec<usize> =
                t.running.iter().filter(|(_, j)| j.is_finished()).map(|(&p, _)| p).collect();
            for p in ended {
                if let Some(job) = t.running.remove(&p) {
                    t.reap(p, job);
                }
            }
            // Which partitions are done, by whichever instance: asked of the group now and then.
            let done = match (bounded, last_check.elapsed() >= FINISHED_POLL) {
                (false, _) => BTreeSet::new(),
                (true, false) => continue,
                (true, true) => {
                    last_check = Instant::now();
                    match member.finished() {
                        Ok(done) if done.len() == member.partitions() => break Ok(()),
                        Ok(done) => done,
                        Err(e) => break Err(runtime(format!("{e}"))),
                    }
                }
            };
            let to_start: Vec<usize> =
                t.owned.iter().copied().filter(|p| !t.running.contains_key(p) && !done.contains(p)).collect();
            for p in to_start {
                match self.spawn(&RunOptions { partition: Some(p), ..options.clone() }) {
                    Ok(job) => t.running.insert(p, job),
                    Err(e) => break 'run Err(e),
                };
            }
        };
        // Stop every task after a checkpoint, then leave the group (dropping the member).
        let mut t = tasks.lock().unwrap_or_else(PoisonError::into_inner);
        let running: Vec<usize> = t.running.keys().copied().collect();
        for p in running {
            t.release(p);
        }
        let error = t.error.take();
        let reports = std::mem::take(&mut t.reports);
        drop(t);
        drop(member);
        outcome?;
        error.map_or(Ok(ScaleOutReport { tasks: reports }), Err)
    }

    /// The brokers, topic and group of the job's Kafka input, and whether it is bounded.
    fn scale_out_input(
        &self,
        options: &RunOptions,
    ) -> Result<(sluice_connect::KafkaConfig, String, String, bool)> {
        let [insert] = &self.inserts[..] else {
            return Err(runtime(format!(
                "a job that scales out has one INSERT; this one has {}",
                self.inserts.len()
            )));
        };
        let name = self.checkpointed_name(options)?.ok_or_else(|| {
            runtime("a job that scales out needs checkpoints: its state moves through them".into())
                .hint("add SET 'execution.checkpointing.interval' = '10s' (or pass --checkpoint-interval)")
        })?;
        let src = self.catalog.tables.get(&insert.plan.source).ok_or_else(|| runtime("no source".into()))?;
        if src.def.option("connector") != Some("kafka") {
            return Err(SqlError::new(
                ErrorKind::Option,
                insert.pos,
                format!("a job that scales out reads a Kafka topic; `{}` is not one", insert.plan.source),
            ));
        }
        let sink = self.catalog.tables.get(&insert.target).ok_or_else(|| runtime("no sink".into()))?;
        if sink.def.option("connector") != Some("kafka")
            || crate::kafka::guarantee(sink, true)? != sluice_connect::DeliveryGuarantee::ExactlyOnce
        {
            return Err(SqlError::new(
                ErrorKind::Option,
                insert.pos,
                format!(
                    "a job that scales out writes to a Kafka topic exactly-once; `{}` is not one",
                    insert.target
                ),
            )
            .hint("write to a 'kafka' table with 'sink.delivery-guarantee' = 'exactly-once'"));
        }
        let (config, topic, group) = crate::kafka::membership(src, &name)?;
        let bounded = src.def.option("scan.bounded.mode") == Some("latest-offset");
        Ok((config, topic, group, bounded))
    }
}
