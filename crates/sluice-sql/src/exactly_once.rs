//! Checkpointing a SQL job: its name, where its checkpoints go, how often, and where a run's
//! state comes from.
//!
//! Checkpoints are on when the file sets `'execution.checkpointing.interval'` or the caller
//! passes [`RunOptions::checkpoint_interval`]. The job's identity is `SET 'pipeline.name'`, else
//! [`RunOptions::job_name`] (the CLI passes the file's stem): running the same job again with
//! the same name and checkpoint directory resumes from its latest complete checkpoint.
//!
//! Each INSERT is its own pipeline with its own checkpoints, stored as job `<name>` when the
//! file has one INSERT and `<name>.<target table>` otherwise (`<name>.<table>.<k>` for the
//! `k`-th INSERT into a table written more than once). A savepoint of a several-INSERT job is
//! one folder per INSERT; [`RunOptions::from_savepoint`] takes any one of them and finds the
//! others by name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_checkpoint::{CheckpointStore, Target};
use sluice_dataflow::checkpoint::{Checkpointing, Restore};

use crate::compile::Script;
use crate::error::{ErrorKind, Pos, Result, SqlError};
use crate::job::RunOptions;
use crate::settings::{
    self, CHECKPOINT_DIR, CHECKPOINT_INTERVAL, PIPELINE_NAME, RETAINED, TOLERABLE_FAILURES,
};

/// A job's checkpoint settings, resolved from its `SET`s and the run options.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The job's name.
    pub(crate) name: String,
    /// The checkpoint store's location (a directory or a URL).
    pub(crate) location: String,
    /// Per INSERT, the job name its checkpoints are stored under.
    pub(crate) jobs: Vec<String>,
    interval: Duration,
    retain: usize,
    max_failures: u32,
    fresh: bool,
    from: Option<PathBuf>,
    /// Per INSERT, where its state comes from (a savepoint is checked before anything opens).
    restores: Vec<Restore>,
}

fn option_error(message: String) -> SqlError {
    SqlError::new(ErrorKind::Option, Pos::default(), message)
}

impl Plan {
    /// The plan, or `None` when checkpointing is off (then `--fresh` and `--from-savepoint`
    /// are errors: there is nothing to start over from or to restore into).
    pub(crate) fn of(script: &Script, options: &RunOptions, base: &Path) -> Result<Option<Plan>> {
        let set = |key: &str| script.settings.get(key).map(String::as_str);
        let interval = match (options.checkpoint_interval, set(CHECKPOINT_INTERVAL)) {
            (Some(d), _) => Some(d),
            (None, Some(text)) => Some(settings::parse_duration(text).map_err(option_error)?),
            (None, None) => None,
        };
        let Some(interval) = interval else {
            if options.fresh || options.from_savepoint.is_some() {
                let flag = if options.fresh { "--fresh" } else { "--from-savepoint" };
                return Err(option_error(format!("{flag} needs checkpointing, and this job runs without"))
                    .hint(
                        "add SET 'execution.checkpointing.interval' = '10s' or pass --checkpoint-interval",
                    ));
            }
            return Ok(None);
        };
        let name = set(PIPELINE_NAME).or(options.job_name.as_deref()).unwrap_or("job").to_string();
        settings::check_job_name(&name).map_err(|e| {
            option_error(format!("the job's name '{name}' cannot name its checkpoints: {e}"))
                .hint(format!("SET '{PIPELINE_NAME}' = 'a-name' in the file"))
        })?;
        let location = match set(CHECKPOINT_DIR) {
            Some(url) if url.contains("://") => url.to_string(),
            Some(dir) => base.join(dir).display().to_string(),
            None => options
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("./sluice-data"))
                .join("checkpoints")
                .display()
                .to_string(),
        };
        let number = |key: &str, default: u64| {
            set(key)
                .map_or(Ok(default), |v| v.trim().parse::<u64>())
                .map_err(|_| option_error(format!("'{key}' must be a whole number")))
        };
        let mut jobs =
            pipeline_jobs(&name, &script.inserts.iter().map(|i| i.target.as_str()).collect::<Vec<_>>());
        if let Some(p) = options.partition {
            if options.from_savepoint.is_some() {
                return Err(option_error(
                    "--from-savepoint cannot start a job that scales out: each partition resumes from its own \
                     checkpoints"
                        .into(),
                ));
            }
            jobs = jobs.into_iter().map(|j| format!("{j}.p{p}")).collect();
        }
        for (job, insert) in jobs.iter().zip(&script.inserts) {
            settings::check_job_name(job).map_err(|e| {
                SqlError::new(
                    ErrorKind::Option,
                    insert.pos,
                    format!("this INSERT's checkpoints cannot be named '{job}': {e}"),
                )
                .hint("write to a table whose name is plain letters, digits, '_', '-'")
            })?;
        }
        let restores = match &options.from_savepoint {
            Some(path) => {
                (0..jobs.len()).map(|i| restore_from(path, &name, &jobs, i)).collect::<Result<Vec<_>>>()?
            }
            None if options.fresh => vec![Restore::Fresh; jobs.len()],
            None => vec![Restore::Latest; jobs.len()],
        };
        Ok(Some(Plan {
            name,
            location,
            jobs,
            restores,
            interval,
            retain: usize::try_from(number(RETAINED, 3)?).unwrap_or(usize::MAX),
            max_failures: u32::try_from(number(TOLERABLE_FAILURES, 3)?).unwrap_or(u32::MAX),
            fresh: options.fresh,
            from: options.from_savepoint.clone(),
        }))
    }

    /// The settings of INSERT `i`'s pipeline.
    pub(crate) fn checkpointing(&self, i: usize) -> Result<Checkpointing> {
        let job = self.jobs.get(i).ok_or_else(|| option_error(format!("no INSERT {}", i + 1)))?;
        let store = open(&self.location, job)?;
        let restore = self.restores.get(i).cloned().unwrap_or_default();
        Ok(Checkpointing::new(store)
            .interval(self.interval)
            .retain(self.retain)
            .max_consecutive_failures(self.max_failures)
            .restore(restore))
    }

    /// Where savepoint `name` of INSERT `i` lands, as a local path when the store is a local
    /// directory.
    pub(crate) fn savepoint_path(&self, i: usize, name: &str) -> Option<PathBuf> {
        let dir = match self.location.strip_prefix("file://") {
            Some(path) => PathBuf::from(path),
            None if self.location.contains("://") => return None,
            None => PathBuf::from(&self.location),
        };
        Some(dir.join(self.jobs.get(i)?).join("savepoints").join(name))
    }

    /// One line for the user: what is checkpointed, how often, where.
    pub(crate) fn describe(&self) -> String {
        let start = match (&self.from, self.fresh) {
            (Some(p), _) => format!("starting from {}", p.display()),
            (None, true) => "starting fresh".into(),
            (None, false) => "resuming from the latest checkpoint if there is one".into(),
        };
        format!("job {}: checkpoints every {:?} in {}; {start}", self.name, self.interval, self.location)
    }
}

/// The checkpoint job names of a job `name` with INSERTs into `targets`, in order.
pub(crate) fn pipeline_jobs(name: &str, targets: &[&str]) -> Vec<String> {
    if targets.len() == 1 {
        return vec![name.to_string()];
    }
    targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let repeated = targets.iter().filter(|u| *u == t).count() > 1;
            let k = targets[..i].iter().filter(|u| *u == t).count() + 1;
            if repeated {
                format!("{name}.{t}.{k}")
            } else {
                format!("{name}.{t}")
            }
        })
        .collect()
}

fn open(location: &str, job: &str) -> Result<CheckpointStore> {
    CheckpointStore::open(location, job)
        .map_err(|e| SqlError::new(ErrorKind::Runtime, Pos::default(), format!("checkpoint store: {e}")))
}

/// `path` (`<dir>/<job>/savepoints/<name>` or `<dir>/<job>/chk-<id>`) as the restore of INSERT
/// `i` of job `name`, whose INSERTs store their checkpoints as `jobs`.
fn restore_from(path: &Path, name: &str, jobs: &[String], i: usize) -> Result<Restore> {
    let shape = || {
        option_error(format!("--from-savepoint {}: not a savepoint or checkpoint folder", path.display()))
            .hint("expected <dir>/<job>/savepoints/<name> (as `sluice savepoint` prints it) or <dir>/<job>/chk-<id>")
    };
    let segment = |p: &Path| p.file_name().and_then(|n| n.to_str()).map(str::to_string);
    let last = segment(path).ok_or_else(shape)?;
    let parent = path.parent().ok_or_else(shape)?;
    let (target, job_dir) = match last.strip_prefix("chk-").and_then(|id| id.parse::<u64>().ok()) {
        Some(id) => (Target::Checkpoint(id), parent),
        None if segment(parent).as_deref() == Some("savepoints") => {
            (Target::Savepoint(last.clone()), parent.parent().ok_or_else(shape)?)
        }
        None => return Err(shape()),
    };
    let saved_job = segment(job_dir).ok_or_else(shape)?;
    let dir = job_dir.parent().ok_or_else(shape)?;
    let own = jobs.get(i).ok_or_else(shape)?;
    let job = if jobs.len() == 1 {
        saved_job
    } else {
        // The INSERT-specific suffix of a pipeline job name: what follows the job's own name.
        let suffix = |j: &str| j.strip_prefix(name).unwrap_or(j).to_string();
        let theirs = jobs.iter().map(|j| suffix(j)).filter(|s| saved_job.ends_with(s.as_str()));
        let Some(matched) = theirs.max_by_key(String::len) else {
            return Err(option_error(format!(
                "--from-savepoint {}: it belongs to job '{saved_job}', which is none of this job's INSERTs ({})",
                path.display(),
                jobs.join(", ")
            )));
        };
        format!("{}{}", &saved_job[..saved_job.len() - matched.len()], suffix(own))
    };
    let folder = match &target {
        Target::Checkpoint(_) => dir.join(&job).join(&last),
        Target::Savepoint(name) => dir.join(&job).join("savepoints").join(name),
    };
    if !folder.is_dir() {
        return Err(option_error(format!("no such savepoint: {}", folder.display())));
    }
    if !folder.join("_manifest").is_file() {
        return Err(option_error(format!(
            "{} is not a complete savepoint: it has no _manifest",
            folder.display()
        )));
    }
    Ok(Restore::From { store: open(&dir.display().to_string(), &job)?, target })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(targets: &[&str]) -> Vec<String> {
        pipeline_jobs("views", targets)
    }

    #[test]
    fn one_checkpoint_job_per_insert() {
        assert_eq!(jobs(&["counts"]), ["views"]);
        assert_eq!(jobs(&["a", "b"]), ["views.a", "views.b"]);
        assert_eq!(jobs(&["a", "b", "a"]), ["views.a.1", "views.b", "views.a.2"]);
    }

    /// A savepoint folder with a manifest (its content is the runtime's business).
    fn savepoint(dir: &Path, job: &str, name: &str) -> PathBuf {
        let folder = dir.join(job).join("savepoints").join(name);
        std::fs::create_dir_all(&folder).expect("folder");
        std::fs::write(folder.join("_manifest"), b"x").expect("manifest");
        folder
    }

    fn target(r: Restore) -> Option<(String, Target)> {
        match r {
            Restore::From { store, target } => Some((store.job().to_string(), target)),
            _ => None,
        }
    }

    #[test]
    fn a_savepoint_path_names_store_job_and_target() -> std::result::Result<(), SqlError> {
        let dir = tempfile::tempdir().map_err(|e| option_error(e.to_string()))?;
        let folder = savepoint(dir.path(), "old-name", "sp1");
        let r = restore_from(&folder, "views", &jobs(&["counts"]), 0)?;
        assert_eq!(target(r), Some(("old-name".into(), Target::Savepoint("sp1".into()))));

        std::fs::create_dir_all(dir.path().join("views/chk-7")).map_err(|e| option_error(e.to_string()))?;
        std::fs::write(dir.path().join("views/chk-7/_manifest"), b"x")
            .map_err(|e| option_error(e.to_string()))?;
        let r = restore_from(&dir.path().join("views/chk-7"), "views", &jobs(&["counts"]), 0)?;
        assert_eq!(target(r), Some(("views".into(), Target::Checkpoint(7))));
        Ok(())
    }

    #[test]
    fn a_several_insert_savepoint_is_found_for_each_insert() -> std::result::Result<(), SqlError> {
        let dir = tempfile::tempdir().map_err(|e| option_error(e.to_string()))?;
        let a = savepoint(dir.path(), "old.a", "sp");
        savepoint(dir.path(), "old.b", "sp");
        let jobs = jobs(&["a", "b"]);
        let r = restore_from(&a, "views", &jobs, 1)?;
        assert_eq!(target(r), Some(("old.b".into(), Target::Savepoint("sp".into()))));
        let e = restore_from(&dir.path().join("old.c/savepoints/sp"), "views", &jobs, 0)
            .expect_err("no INSERT c");
        assert!(e.message.contains("none of this job's INSERTs"), "{e}");
        Ok(())
    }

    #[test]
    fn bad_savepoint_paths_say_what_is_wrong() -> std::result::Result<(), SqlError> {
        let dir = tempfile::tempdir().map_err(|e| option_error(e.to_string()))?;
        let one = jobs(&["counts"]);
        let e =
            restore_from(&dir.path().join("views/savepoints/nope"), "views", &one, 0).expect_err("missing");
        assert!(e.message.starts_with("no such savepoint: "), "{e}");
        let e = restore_from(&dir.path().join("views/other"), "views", &one, 0).expect_err("shape");
        assert!(e.message.contains("not a savepoint or checkpoint folder"), "{e}");
        let folder = savepoint(dir.path(), "views", "half");
        std::fs::remove_file(folder.join("_manifest")).map_err(|e| option_error(e.to_string()))?;
        let e = restore_from(&folder, "views", &one, 0).expect_err("incomplete");
        assert!(e.message.contains("no _manifest"), "{e}");
        Ok(())
    }

    #[test]
    fn plans_follow_sets_and_options() -> std::result::Result<(), SqlError> {
        let sql = |sets: &str| {
            format!(
                "{sets}
                 CREATE TABLE v (ts TIMESTAMP(3), url STRING) WITH ('connector' = 'filesystem', 'path' = 'v', 'format' = 'json');
                 CREATE TABLE o (url STRING) WITH ('connector' = 'blackhole');
                 INSERT INTO o SELECT url FROM v;"
            )
        };
        let base = Path::new("/base");
        let options = RunOptions {
            data_dir: Some("/data".into()),
            job_name: Some("file".into()),
            ..RunOptions::default()
        };
        let off = crate::compile(&sql(""))?;
        assert!(Plan::of(&off, &options, base)?.is_none(), "no interval: no checkpoints");
        let fresh = RunOptions { fresh: true, ..options.clone() };
        assert!(
            Plan::of(&off, &fresh, base).is_err_and(|e| e.message.contains("--fresh needs checkpointing"))
        );

        let on = crate::compile(&sql("SET 'execution.checkpointing.interval' = '1 min';"))?;
        let plan = Plan::of(&on, &options, base)?.ok_or_else(|| option_error("on".into()))?;
        assert_eq!((plan.name.as_str(), plan.location.as_str()), ("file", "/data/checkpoints"));
        assert_eq!(plan.interval, Duration::from_secs(60));
        let flag = RunOptions { checkpoint_interval: Some(Duration::from_millis(5)), ..options.clone() };
        let plan = Plan::of(&on, &flag, base)?.ok_or_else(|| option_error("on".into()))?;
        assert_eq!(plan.interval, Duration::from_millis(5), "the flag overrides the SET");
        assert_eq!(plan.savepoint_path(0, "sp"), Some(PathBuf::from("/data/checkpoints/file/savepoints/sp")));

        let named = crate::compile(&sql(
            "SET 'execution.checkpointing.interval' = '1s'; SET 'pipeline.name' = 'named';
             SET 'state.checkpoints.dir' = 'file:///ck';",
        ))?;
        let plan = Plan::of(&named, &options, base)?.ok_or_else(|| option_error("on".into()))?;
        assert_eq!((plan.name.as_str(), plan.location.as_str()), ("named", "file:///ck"));
        assert_eq!(plan.savepoint_path(0, "sp"), Some(PathBuf::from("/ck/named/savepoints/sp")));

        let bad = RunOptions { job_name: Some("my job".into()), ..options };
        assert!(Plan::of(&on, &bad, base).is_err_and(|e| e.hint.is_some_and(|h| h.contains("pipeline.name"))));
        Ok(())
    }
}
