//! A state-machine property test: random sequences of appends (with segments small enough to
//! roll often), retention, transactions (committed, aborted, dropped, prepared across a
//! reopen), reopenings and reads, run against a plain in-memory model — a `Vec<Record>` per
//! partition plus its log start.
//!
//! The log start is observed rather than predicted: the background flusher may apply
//! retention at any moment. The model checks that it only moves forward, stays within the
//! retained size, and that every offset from it to the end reads exactly as the model says.

use proptest::prelude::*;
use sluice_log::{Log, LogError, TopicConfig};
use sluice_types::{Bytes, PartitionId, Record};

use crate::support::*;

const PARTITIONS: u32 = 2;

/// A record in a compact, shrinkable form.
#[derive(Debug, Clone)]
struct Rec {
    ts: i64,
    key: Option<u8>,
    value_len: u8,
    header: bool,
}

impl Rec {
    fn record(&self, tag: u64) -> Record {
        let mut r = Record::new(Bytes::from(vec![(tag % 251) as u8; usize::from(self.value_len)]), self.ts);
        if let Some(k) = self.key {
            r = r.with_key(vec![k]);
        }
        if self.header {
            r = r.with_header("tag", Some(Bytes::from(tag.to_le_bytes().to_vec())));
        }
        r
    }
}

#[derive(Debug, Clone, Copy)]
enum TxnEnd {
    Commit,
    Abort,
    Drop,
    /// Prepare, reopen the log, then commit or abort the prepared transaction.
    PreparedThenReopen {
        commit: bool,
    },
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        partition: u32,
        recs: Vec<Rec>,
    },
    Retention,
    Txn {
        parts: Vec<(u32, Vec<Rec>)>,
        end: TxnEnd,
    },
    Reopen,
    /// Read from the offset `permille` of the way through the retained range.
    Read {
        partition: u32,
        permille: u16,
        max_bytes: usize,
    },
    Lookup {
        partition: u32,
        ts: i64,
    },
}

fn rec() -> impl Strategy<Value = Rec> {
    (0i64..2_000, proptest::option::of(0u8..8), 0u8..200, proptest::bool::weighted(0.2))
        .prop_map(|(ts, key, value_len, header)| Rec { ts, key, value_len, header })
}

fn recs(max: usize) -> impl Strategy<Value = Vec<Rec>> {
    proptest::collection::vec(rec(), 1..max)
}

fn op() -> impl Strategy<Value = Op> {
    let txn_end = prop_oneof![
        3 => Just(TxnEnd::Commit),
        1 => Just(TxnEnd::Abort),
        1 => Just(TxnEnd::Drop),
        1 => any::<bool>().prop_map(|commit| TxnEnd::PreparedThenReopen { commit }),
    ];
    prop_oneof![
        8 => (0..PARTITIONS, recs(25)).prop_map(|(partition, recs)| Op::Append { partition, recs }),
        2 => Just(Op::Retention),
        3 => (proptest::collection::vec((0..PARTITIONS, recs(8)), 1..4), txn_end)
            .prop_map(|(parts, end)| Op::Txn { parts, end }),
        1 => Just(Op::Reopen),
        3 => (0..PARTITIONS, 0u16..=1000, prop_oneof![Just(1usize), Just(300), Just(1 << 20)])
            .prop_map(|(partition, permille, max_bytes)| Op::Read { partition, permille, max_bytes }),
        2 => (0..PARTITIONS, -10i64..2_010).prop_map(|(partition, ts)| Op::Lookup { partition, ts }),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    segment_bytes: u64,
    index_interval: u32,
    retention_bytes: Option<u64>,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(1024u64), Just(2048), Just(4096)],
        prop_oneof![Just(64u32), Just(700), Just(4096)],
        proptest::option::of(3_000u64..12_000),
    )
        .prop_map(|(segment_bytes, index_interval, retention_bytes)| Setup {
            segment_bytes,
            index_interval,
            retention_bytes,
        })
}

/// The system under test next to the model.
struct Harness {
    dir: tempfile::TempDir,
    log: Option<Log>,
    setup: Setup,
    model: Vec<Vec<Record>>,
    starts: Vec<u64>,
    /// Tags records so that equal-looking records are told apart.
    next_tag: u64,
}

impl Harness {
    fn new(setup: Setup) -> TestResult<Self> {
        let (dir, log) = open_temp()?;
        let mut cfg = TopicConfig::new(PARTITIONS)
            .segment_bytes(setup.segment_bytes)
            .retention_bytes(setup.retention_bytes);
        cfg.index_interval_bytes = setup.index_interval;
        log.create_topic("m", cfg)?;
        Ok(Harness {
            dir,
            log: Some(log),
            setup,
            model: vec![Vec::new(); PARTITIONS as usize],
            starts: vec![0; PARTITIONS as usize],
            next_tag: 0,
        })
    }

    fn log(&self) -> TestResult<&Log> {
        Ok(self.log.as_ref().ok_or("log is closed")?)
    }

    fn partition(&self, p: u32) -> TestResult<sluice_log::Partition> {
        Ok(self.log()?.topic("m")?.partition(PartitionId(p))?.clone())
    }

    fn make(&mut self, recs: &[Rec]) -> Vec<Record> {
        recs.iter()
            .map(|r| {
                self.next_tag += 1;
                r.record(self.next_tag)
            })
            .collect()
    }

    fn reopen(&mut self) -> TestResult {
        self.log = None; // closes everything: no handle outlives an op
        self.log = Some(Log::open(self.dir.path(), fast())?);
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> TestResult {
        match op {
            Op::Append { partition, recs } => {
                let records = self.make(recs);
                let info = self.partition(*partition)?.append(&records)?;
                let model = &mut self.model[*partition as usize];
                assert_eq!(info.base_offset, model.len() as u64);
                model.extend(records);
            }
            Op::Retention => {
                self.log()?.enforce_retention()?;
                if let Some(limit) = self.setup.retention_bytes {
                    for p in 0..PARTITIONS {
                        let stats = self.partition(p)?.stats();
                        assert!(stats.segments == 1 || stats.bytes <= limit, "retention left {stats:?}");
                    }
                }
            }
            Op::Txn { parts, end } => {
                let staged: Vec<(u32, Vec<Record>)> = parts.iter().map(|(p, r)| (*p, self.make(r))).collect();
                let mut tx = self.log()?.begin_transaction("model")?;
                for (p, records) in &staged {
                    tx.append("m", PartitionId(*p), records)?;
                }
                let committed = match end {
                    TxnEnd::Commit => {
                        tx.commit()?;
                        true
                    }
                    TxnEnd::Abort => {
                        tx.abort()?;
                        false
                    }
                    TxnEnd::Drop => {
                        drop(tx);
                        false
                    }
                    TxnEnd::PreparedThenReopen { commit } => {
                        tx.prepare()?;
                        drop(tx);
                        self.reopen()?;
                        assert_eq!(self.log()?.prepared_transactions()?, ["model"]);
                        self.check()?; // not visible yet
                        if *commit {
                            self.log()?.commit_prepared("model")?;
                        } else {
                            self.log()?.abort_prepared("model")?;
                        }
                        *commit
                    }
                };
                if committed {
                    // Per partition, in the order staged (a partition staged twice gets both
                    // runs, in order).
                    let mut by_partition = staged;
                    by_partition.sort_by_key(|(p, _)| *p);
                    for (p, records) in by_partition {
                        self.model[p as usize].extend(records);
                    }
                }
            }
            Op::Reopen => self.reopen()?,
            Op::Read { partition, permille, max_bytes } => {
                let p = self.partition(*partition)?;
                let (start, end) = (p.log_start_offset(), p.end_offset());
                let from = start + (end - start) * u64::from(*permille) / 1000;
                let got = p.read(from, *max_bytes)?;
                assert_eq!(got.is_empty(), from == end, "read at {from} of {start}..{end}");
                let model = &self.model[*partition as usize];
                assert_records(&got, from, &model[from as usize..from as usize + got.len()]);
            }
            Op::Lookup { partition, ts } => {
                let p = self.partition(*partition)?;
                let start = p.log_start_offset();
                let model = &self.model[*partition as usize];
                let want =
                    model[start as usize..].iter().position(|r| r.timestamp >= *ts).map(|i| start + i as u64);
                assert_eq!(p.offset_for_timestamp(*ts)?, want, "lookup of {ts} from start {start}");
            }
        }
        self.check()
    }

    /// Every partition reads exactly as the model from its (observed) start to the end.
    fn check(&mut self) -> TestResult {
        for p in 0..PARTITIONS {
            let part = self.partition(p)?;
            let model = &self.model[p as usize];
            let (start, end) = (part.log_start_offset(), part.end_offset());
            assert_eq!(end, model.len() as u64, "partition {p}: end offset");
            assert!(start >= self.starts[p as usize] && start <= end, "partition {p}: start {start}");
            if self.setup.retention_bytes.is_none() {
                assert_eq!(start, 0, "nothing is deleted without retention");
            }
            if start > 0 {
                assert!(matches!(part.read(start - 1, 1), Err(LogError::OffsetOutOfRange { .. })));
            }
            assert_records(&read_all(&part)?, start, &model[start as usize..]);
            self.starts[p as usize] = start;
        }
        Ok(())
    }
}

proptest! {
    // 24 cases keep CI fast; PROPTEST_CASES=2000 for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_log_behaves_like_a_vec_per_partition(setup in setup(), ops in proptest::collection::vec(op(), 1..40)) {
        let mut h = Harness::new(setup).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (i, op) in ops.iter().enumerate() {
            h.apply(op).map_err(|e| TestCaseError::fail(format!("op {i} {op:?}: {e}")))?;
        }
        // And a last reopen, whatever the sequence ended with.
        h.apply(&Op::Reopen).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}
