//! `sluice savepoint JOB`: asks a running `sluice run` of that job for a savepoint, through
//! files in `<data-dir>/jobs/<job>/`:
//!
//! ```text
//! running.lock        held (an exclusive file lock) by the `sluice run` of the job while it runs
//! request             {"id", "name", "stop"}: written to a temporary file and renamed, so
//!                     the job never reads half a request
//! response-<id>       {"paths"} or {"error"}: written the same way by the job
//! ```
//!
//! The running job ([`Registration`]) checks for `request` every 100 ms, takes the savepoint
//! and writes the response; the command waits for it and prints the savepoint's folders. The
//! lock also keeps a second `sluice run` of the same job from starting, and dies with its
//! process: after a `kill -9` the job is not running, and the next run may start.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::cli::SavepointArgs;

const LOCK: &str = "running.lock";
const REQUEST: &str = "request";
/// How often the running job looks for a request.
pub const POLL: Duration = Duration::from_millis(100);

/// A savepoint request.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// Names the response file.
    pub id: String,
    /// The savepoint's name.
    pub name: String,
    /// Stop the job after it.
    pub stop: bool,
}

/// The job's answer.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Response {
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    error: Option<String>,
}

fn job_dir(data_dir: &Path, job: &str) -> PathBuf {
    data_dir.join("jobs").join(job)
}

/// Writes `bytes` to `path` through a temporary sibling and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

/// A running job's presence in `<data-dir>/jobs/<job>/`: holds the lock while it lives.
#[derive(Debug)]
pub struct Registration {
    dir: PathBuf,
    _lock: File,
}

impl Registration {
    /// Registers job `job` as running.
    ///
    /// # Errors
    /// The directory cannot be created, or another `sluice run` of the same job holds the lock.
    pub fn register(data_dir: &Path, job: &str) -> Result<Registration> {
        let dir = job_dir(data_dir, job);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(LOCK);
        let lock = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => bail!(
                "job {job} is already running (another `sluice run` holds {}); stop it first",
                path.display()
            ),
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
        // A request left by an earlier run was never answered; its sender has given up.
        let _ = std::fs::remove_file(dir.join(REQUEST));
        Ok(Registration { dir, _lock: lock })
    }

    /// Takes the pending request, if there is one.
    ///
    /// # Errors
    /// A request file that cannot be read or parsed (it is removed).
    pub fn take_request(&self) -> Result<Option<Request>> {
        let path = self.dir.join(REQUEST);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let _ = std::fs::remove_file(&path);
        let request =
            serde_json::from_str(&text).with_context(|| format!("bad request in {}", path.display()))?;
        Ok(Some(request))
    }

    /// Answers request `id` with the savepoint's folders or the error.
    ///
    /// # Errors
    /// The response cannot be written.
    pub fn respond(&self, id: &str, result: std::result::Result<Vec<String>, String>) -> Result<()> {
        let response = match result {
            Ok(paths) => Response { paths, error: None },
            Err(e) => Response { paths: Vec::new(), error: Some(e) },
        };
        let bytes = serde_json::to_vec(&response)?;
        write_atomically(&self.dir.join(format!("response-{id}")), &bytes)
    }
}

/// Whether job `job` has a running `sluice run` (it holds the lock).
fn is_running(dir: &Path) -> Result<bool> {
    let path = dir.join(LOCK);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// `sluice savepoint`: sends the request, waits for the answer, prints the folders.
pub fn request(data_dir: &Path, args: &SavepointArgs) -> Result<()> {
    let dir = job_dir(data_dir, &args.job);
    if !is_running(&dir)? {
        bail!(
            "job {} is not running in {} (no `sluice run` of it with checkpointing holds {})",
            args.job,
            data_dir.display(),
            dir.join(LOCK).display()
        );
    }
    let name =
        args.name.clone().unwrap_or_else(|| chrono::Utc::now().format("savepoint-%Y%m%d-%H%M%S").to_string());
    let id = format!("{}-{}", std::process::id(), chrono::Utc::now().timestamp_micros());
    let request_path = dir.join(REQUEST);
    if request_path.exists() {
        bail!("another savepoint request is pending for job {} ({})", args.job, request_path.display());
    }
    let request = Request { id: id.clone(), name: name.clone(), stop: args.stop };
    write_atomically(&request_path, &serde_json::to_vec(&request)?)?;
    let response_path = dir.join(format!("response-{id}"));
    let deadline = Instant::now() + args.timeout;
    let text = loop {
        match std::fs::read_to_string(&response_path) {
            Ok(text) => break text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", response_path.display())),
        }
        if Instant::now() >= deadline {
            let picked_up = !request_path.exists();
            let _ = std::fs::remove_file(&request_path);
            bail!(
                "no answer from job {} within {:?}{}",
                args.job,
                args.timeout,
                if picked_up {
                    " (the savepoint is still being taken)"
                } else {
                    " (it did not pick up the request)"
                }
            );
        }
        if !is_running(&dir)? && !response_path.exists() {
            bail!("job {} stopped before answering", args.job);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = std::fs::remove_file(&response_path);
    let response: Response = serde_json::from_str(&text)
        .with_context(|| format!("bad response in {}", response_path.display()))?;
    if let Some(e) = response.error {
        return Err(anyhow!("savepoint {name} of job {}: {e}", args.job));
    }
    for path in response.paths {
        println!("{path}");
    }
    if args.stop {
        eprintln!("job {} stops; resume it with `sluice run` (it continues from this savepoint)", args.job);
    }
    Ok(())
}
