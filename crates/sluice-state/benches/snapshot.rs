//! Snapshot write and read speed for keyed count state (issue 5's goal: 10M keys in < 5 s).
//!
//! ```sh
//! cargo bench -p sluice-state --bench snapshot                      # 1M keys
//! BENCH_KEYS=10000000 cargo bench -p sluice-state --bench snapshot
//! ```
//!
//! Builds a [`KeyedValues<String, u64>`] of N URL-like keys of 20 bytes (`/products/p000000042`)
//! over the default 128 key groups, then times:
//! - **write**: `snapshot` into an in-memory `Vec` (encoding, checksums, framing), and into a
//!   file through a `BufWriter` followed by `sync_all` (the durable path a checkpoint takes);
//! - **read**: `restore` of the whole range from the in-memory bytes (checksums, decoding,
//!   group check, inserting into fresh maps) and from the file through a `BufReader`.
//!
//! Each figure is the best of 3 runs.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufReader, BufWriter, Write};
use std::time::{Duration, Instant};

use sluice_state::snapshot::SnapshotReader;
use sluice_state::{KeyGroups, KeyedValues, MemoryAccount, Result};

/// The same fixed hash the keyed exchange uses for string keys would do; FNV-1a is enough here.
#[expect(clippy::ptr_arg, reason = "KeyedValues<String, _> takes a fn(&String) -> u64")]
fn hash(key: &String) -> u64 {
    let h =
        key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    h ^ (h >> 29)
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..runs {
        let start = Instant::now();
        let value = f()?;
        let took = start.elapsed();
        if best.as_ref().is_none_or(|(b, _)| took < *b) {
            best = Some((took, value));
        }
    }
    best.ok_or_else(|| sluice_state::StateError::InvalidConfig("no runs".into()))
}

fn report(what: &str, keys: usize, bytes: usize, took: Duration) {
    let secs = took.as_secs_f64();
    println!(
        "{what:<28} {:>8.1} ms  {:>6.2} M keys/s  {:>7.1} MB/s",
        secs * 1e3,
        keys as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6
    );
}

fn main() -> Result<()> {
    let keys: usize = std::env::var("BENCH_KEYS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let groups = KeyGroups::default();
    let mut state: KeyedValues<String, u64> =
        KeyedValues::new(groups, groups.all(), hash, MemoryAccount::detached("bench"));
    for i in 0..keys {
        state.insert(format!("/products/p{i:09}"), (i % 1000) as u64 + 1)?;
    }
    println!("{keys} keys of count state (String of 20 bytes -> u64), {} key groups", groups.max());

    let (took, bytes) =
        best_of(3, || state.snapshot("bench", "count", "String->u64", Vec::new()).map(|(b, _)| b))?;
    report("write to memory", keys, bytes.len(), took);

    let path = std::env::temp_dir().join(format!("sluice-state-bench-{}.snap", std::process::id()));
    let (took, _) = best_of(3, || {
        let file = File::create(&path).map_err(|e| io_err(&path, e))?;
        let (writer, summary) =
            state.snapshot("bench", "count", "String->u64", BufWriter::with_capacity(1 << 20, file))?;
        let file = writer.into_inner().map_err(|e| io_err(&path, e.into_error()))?;
        file.sync_all().map_err(|e| io_err(&path, e))?;
        Ok(summary)
    })?;
    report("write to file + fsync", keys, bytes.len(), took);

    let (took, restored) = best_of(3, || {
        let mut fresh: KeyedValues<String, u64> =
            KeyedValues::new(groups, groups.all(), hash, MemoryAccount::detached("restore"));
        fresh.restore("count", "String->u64", &mut SnapshotReader::open("bench", &bytes[..])?)?;
        Ok(fresh.len())
    })?;
    report("read from memory", restored, bytes.len(), took);

    let (took, restored) = best_of(3, || {
        let file = File::open(&path).map_err(|e| io_err(&path, e))?;
        let mut fresh: KeyedValues<String, u64> =
            KeyedValues::new(groups, groups.all(), hash, MemoryAccount::detached("restore"));
        let mut reader = SnapshotReader::open("bench", BufReader::with_capacity(1 << 20, file))?;
        fresh.restore("count", "String->u64", &mut reader)?;
        Ok(fresh.len())
    })?;
    report("read from file", restored, bytes.len(), took);
    println!(
        "snapshot size: {:.1} MB ({:.1} bytes/key)",
        bytes.len() as f64 / 1e6,
        bytes.len() as f64 / keys as f64
    );
    let _ = std::fs::remove_file(&path);
    black_box(state.len());
    let _ = std::io::stdout().flush();
    Ok(())
}

fn io_err(path: &std::path::Path, source: std::io::Error) -> sluice_state::StateError {
    sluice_state::StateError::Io { snapshot: path.display().to_string(), source }
}
