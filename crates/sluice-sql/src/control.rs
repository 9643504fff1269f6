//! [`JobControl`]: stop a running SQL job or take savepoints of it, from any thread (a Ctrl-C
//! handler, the CLI's savepoint watcher).

use std::time::{Duration, Instant};

use sluice_dataflow::JobHandle;

use crate::error::{ErrorKind, Pos, Result, SqlError};
use crate::exactly_once::Plan;

/// Stops a running job or takes savepoints of it. Cheap to clone, `Send`.
#[derive(Debug, Clone)]
pub struct JobControl {
    pub(crate) plan: Option<Plan>,
    /// Per INSERT: its name and its pipeline's handle.
    pub(crate) handles: Vec<(String, JobHandle)>,
}

impl JobControl {
    /// The job's name, with checkpointing on (it names the checkpoints and savepoints).
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.plan.as_ref().map(|p| p.name.as_str())
    }

    /// Stops every pipeline: inputs end, open windows emit, sinks finish (no savepoint).
    pub fn stop(&self) {
        for (_, h) in &self.handles {
            h.stop();
        }
    }

    /// Stops every pipeline after a checkpoint (no savepoint copy), waiting up to `timeout`:
    /// a later run, or another instance, resumes from it. For handing a partition over.
    ///
    /// # Errors
    /// Checkpointing is off; a pipeline's checkpoint failed or did not complete in time.
    pub fn stop_with_checkpoint(&self, timeout: Duration) -> Result<()> {
        let runtime = |m: String| SqlError::new(ErrorKind::Runtime, Pos::default(), m);
        if self.plan.is_none() {
            return Err(runtime(
                "the job runs without checkpointing: it cannot stop with a checkpoint".into(),
            ));
        }
        let pending: Vec<_> =
            self.handles.iter().map(|(insert, h)| (insert, h.stop_with_checkpoint())).collect();
        let deadline = Instant::now() + timeout;
        for (insert, rx) in pending {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(runtime(format!("{insert}: the stop checkpoint failed: {e}"))),
                Err(_) => {
                    return Err(runtime(format!(
                        "{insert}: the stop checkpoint did not complete within {timeout:?}"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Takes savepoint `name` of every pipeline (with `stop`, each then stops without ending
    /// its input) and waits up to `timeout` for all of them. Returns one location per INSERT:
    /// the savepoint's folder (`<dir>/<job>/savepoints/<name>`) when checkpoints are in a local
    /// directory, else what the store reported.
    ///
    /// # Errors
    /// A name that cannot be a folder name (letters, digits, `_-.`); checkpointing is off; a pipeline's savepoint failed or did not complete in time (the
    /// message names its INSERT).
    pub fn savepoint(&self, name: &str, stop: bool, timeout: Duration) -> Result<Vec<String>> {
        let runtime = |m: String| SqlError::new(ErrorKind::Runtime, Pos::default(), m);
        let Some(plan) = &self.plan else {
            return Err(runtime("the job runs without checkpointing: no savepoint can be taken".into())
                .hint("SET 'execution.checkpointing.interval' = '10s' (or --checkpoint-interval)"));
        };
        crate::settings::check_job_name(name).map_err(|e| {
            SqlError::new(ErrorKind::Option, Pos::default(), format!("savepoint name '{name}': {e}"))
        })?;
        let pending: Vec<_> =
            self.handles.iter().map(|(insert, h)| (insert, h.savepoint(name, stop))).collect();
        let deadline = Instant::now() + timeout;
        let mut paths = Vec::new();
        for (i, (insert, rx)) in pending.into_iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Ok(location)) => {
                    paths.push(plan.savepoint_path(i, name).map_or(location, |p| p.display().to_string()))
                }
                Ok(Err(e)) => return Err(runtime(format!("{insert}: savepoint '{name}' failed: {e}"))),
                Err(_) => {
                    return Err(runtime(format!(
                        "{insert}: savepoint '{name}' did not complete within {timeout:?}"
                    )))
                }
            }
        }
        Ok(paths)
    }
}
