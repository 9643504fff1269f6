//! The durability policies: whatever the policy, an append is readable when it returns and a
//! clean close leaves everything on disk. (What survives a power loss cannot be observed from
//! a test; what survives `kill -9` is the crash test's job.)

use std::time::Duration;

use sluice_log::{Durability, Log, LogOptions, TopicConfig};

use crate::support::*;

const POLICIES: [Durability; 4] = [
    Durability::EveryBatch,
    Durability::Interval(Duration::from_millis(1)),
    Durability::Interval(Duration::from_secs(3600)),
    Durability::Os,
];

#[test]
fn the_default_policy_is_an_fsync_every_second() {
    assert_eq!(Durability::default(), Durability::Interval(Duration::from_secs(1)));
    assert_eq!(LogOptions::default().durability, Durability::Interval(Duration::from_secs(1)));
}

#[test]
fn every_policy_reads_its_appends_at_once_and_after_reopen() -> TestResult {
    for policy in POLICIES {
        let dir = tempfile::tempdir()?;
        let options = LogOptions::default().durability(policy);
        let log = Log::open(dir.path(), options.clone())?;
        let p = small_topic(&log, "t", 2048, 256)?.partitions()[0].clone();
        for chunk in records(0, 200).chunks(9) {
            let info = p.append(chunk)?;
            // Readable as soon as the append returns.
            assert_records(&p.read(info.base_offset, 1 << 20)?[..chunk.len()], info.base_offset, chunk);
        }
        log.flush()?;
        p.flush()?;
        drop((p, log));
        let log = Log::open(dir.path(), options)?;
        assert_records(&read_all(&log.topic("t")?.partitions()[0])?, 0, &records(0, 200));
    }
    Ok(())
}

#[test]
fn flushing_is_idempotent_and_a_no_op_when_read_only() -> TestResult {
    let (dir, log) = open_temp()?;
    let t = log.create_topic("t", TopicConfig::new(2))?;
    log.flush()?; // nothing written yet
    t.partitions()[1].append(&records(0, 5))?;
    log.flush()?;
    log.flush()?;
    let ro = Log::open(dir.path(), LogOptions::default().read_only(true))?;
    ro.flush()?;
    ro.topic("t")?.partitions()[1].flush()?;
    Ok(())
}
