//! The dead-letter output: where malformed input records go.
//!
//! A source that cannot decode a record does not stop the job (unless it is in strict mode):
//! it hands the [`Rejected`] record — its position, the error and its raw bytes — to its
//! [`DeadLetters`], which writes it as one JSON line and counts it:
//!
//! ```json
//! {"position":"page_views/2@1043","error":"field `ts`: ...","raw":"{\"ts\": \"yesterday\"}"}
//! ```
//!
//! `raw` is the record's bytes as UTF-8 (invalid sequences replaced by U+FFFD). The targets
//! are stderr (the default), a JSON-lines file, a topic of the embedded log (the same JSON as
//! the record value, the position as its key), and memory (for tests).
//!
//! **Delivery: at-least-once, even in an exactly-once job.** Sources write dead letters
//! directly as they decode, not through the sink task and its checkpoint transactions. A job
//! restarted from a checkpoint reads again the records after that checkpoint's positions, so a
//! malformed record among them is reported again. Deduplicate by `position` if that matters.
//!
//! A `DeadLetters` is cheap to clone and shared by every reader of a source (and may be shared
//! by several sources): clones write to the same target and add to the same count.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sluice_dataflow::Result;
use sluice_format::Rejected;
use sluice_log::{Log, Topic};
use sluice_types::Record;

use crate::error;

/// Where dead letters are written.
enum Target {
    Stderr,
    File { path: PathBuf, out: Mutex<BufWriter<File>> },
    Topic(Topic),
    Memory(Mutex<Vec<String>>),
}

struct Inner {
    target: Target,
    count: AtomicU64,
}

/// The dead-letter output of one or more sources; see the [module docs](self).
#[derive(Clone)]
pub struct DeadLetters {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters").field("target", &self.target()).field("count", &self.count()).finish()
    }
}

impl Default for DeadLetters {
    fn default() -> Self {
        DeadLetters::stderr()
    }
}

impl DeadLetters {
    fn with(target: Target) -> Self {
        DeadLetters { inner: Arc::new(Inner { target, count: AtomicU64::new(0) }) }
    }

    /// Dead letters as JSON lines on stderr. The default of every source.
    #[must_use]
    pub fn stderr() -> Self {
        Self::with(Target::Stderr)
    }

    /// Dead letters appended to the JSON-lines file `path` (created if missing).
    ///
    /// # Errors
    /// If the file cannot be opened for appending.
    pub fn file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| error::io("cannot open dead-letter file", &path, &e))?;
        Ok(Self::with(Target::File { path, out: Mutex::new(BufWriter::new(file)) }))
    }

    /// Dead letters appended to `topic` of `log` (which must exist), keyed by position.
    ///
    /// # Errors
    /// If the topic does not exist.
    pub fn topic(log: &Log, topic: &str) -> Result<Self> {
        let t = log.topic(topic).map_err(|e| error::log("dead-letter topic", &e))?;
        Ok(Self::with(Target::Topic(t)))
    }

    /// Dead letters kept in memory; read them with [`lines`](Self::lines).
    #[must_use]
    pub fn memory() -> Self {
        Self::with(Target::Memory(Mutex::new(Vec::new())))
    }

    /// Where the dead letters go, for messages: `stderr`, a path, `topic NAME` or `memory`.
    #[must_use]
    pub fn target(&self) -> String {
        match &self.inner.target {
            Target::Stderr => "stderr".into(),
            Target::File { path, .. } => path.display().to_string(),
            Target::Topic(t) => format!("topic {}", t.name()),
            Target::Memory(_) => "memory".into(),
        }
    }

    /// Records written so far (by every clone).
    #[must_use]
    pub fn count(&self) -> u64 {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// The dead letters written so far, if the target is [`memory`](Self::memory); else empty.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        match &self.inner.target {
            Target::Memory(lines) => lines.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            _ => Vec::new(),
        }
    }

    /// Writes `rejected` records (in order) and counts them.
    ///
    /// # Errors
    /// If the target cannot be written; the job stops, since records would otherwise be lost.
    pub fn write(&self, rejected: &[Rejected]) -> Result<()> {
        if rejected.is_empty() {
            return Ok(());
        }
        self.inner.count.fetch_add(rejected.len() as u64, Ordering::Relaxed);
        let lines = rejected.iter().map(to_json);
        match &self.inner.target {
            Target::Stderr => {
                let mut err = std::io::stderr().lock();
                for line in lines {
                    // Best effort: a closed stderr must not stop the job.
                    let _ = writeln!(err, "dead letter: {line}");
                }
            }
            Target::File { path, out } => {
                let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
                for line in lines {
                    writeln!(out, "{line}")
                        .map_err(|e| error::io("cannot write dead letters to", path, &e))?;
                }
                out.flush().map_err(|e| error::io("cannot write dead letters to", path, &e))?;
            }
            Target::Topic(topic) => {
                let now = now_ms();
                let records = rejected
                    .iter()
                    .zip(lines)
                    .map(|(r, line)| Record::new(line, now).with_key(r.position.to_string()))
                    .collect();
                topic.append(records).map_err(|e| {
                    error::log(&format!("writing dead letters to topic `{}`", topic.name()), &e)
                })?;
            }
            Target::Memory(all) => all.lock().unwrap_or_else(PoisonError::into_inner).extend(lines),
        }
        Ok(())
    }
}

/// One dead letter as a JSON object.
fn to_json(r: &Rejected) -> String {
    let quote = |s: String| serde_json::Value::String(s).to_string();
    format!(
        r#"{{"position":{},"error":{},"raw":{}}}"#,
        quote(r.position.to_string()),
        quote(r.error.clone()),
        quote(String::from_utf8_lossy(&r.raw).into_owned())
    )
}

/// Wall-clock time in ms since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
