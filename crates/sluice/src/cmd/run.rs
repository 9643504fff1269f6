//! `sluice run FILE.sql` and `sluice explain FILE.sql`: a SQL job file, compiled whole by
//! `sluice-sql` (nothing starts unless every statement plans), then run as one job — one
//! pipeline per INSERT — until its bounded inputs are consumed or Ctrl-C stops it. Errors are
//! printed as `FILE:LINE:COL: error: ...` with a hint.
//!
//! With checkpointing on (`--checkpoint-interval` or `SET 'execution.checkpointing.interval'`)
//! the job is registered in `<data-dir>/jobs/<job>/` (see [`super::savepoint`]): a watcher
//! thread answers `sluice savepoint` requests, and Ctrl-C stops the job with a savepoint
//! instead of draining it, so that running it again resumes exactly where it stopped.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use sluice_sql::{compile, JobControl, RunOptions, Script};

use super::savepoint::{Registration, POLL};
use crate::cli::{ExplainArgs, RunArgs};

/// How long a savepoint the job takes for a request or Ctrl-C may take.
const SAVEPOINT_TIMEOUT: Duration = Duration::from_secs(600);

fn load(file: &Path) -> Result<(String, Script)> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.display().to_string();
    let text = substitute(&text, |var| std::env::var(var).ok()).map_err(|e| anyhow!("{name}:{e}"))?;
    let script = compile(&text).map_err(|e| anyhow!("{}", e.render(&name)))?;
    Ok((name, script))
}

/// Replaces `${VAR}` and `${VAR:-default}` with environment variables (so that one job file
/// serves several machines: brokers, shared directories); `$$` is a `$`. Errors name the
/// line and column (`LINE:COL: error: ...`) of a variable that is not set and has no default.
fn substitute(text: &str, var: impl Fn(&str) -> Option<String>) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let offset = text.len() - rest.len() + at;
        let line = text[..offset].matches('\n').count() + 1;
        let column = offset - text[..offset].rfind('\n').map_or(0, |n| n + 1) + 1;
        let end =
            body.find('}').ok_or_else(|| format!("{line}:{column}: error: `${{` without a closing `}}`"))?;
        let (name, default) = match body[..end].split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (&body[..end], None),
        };
        let value = var(name).filter(|v| !v.is_empty()).or(default.map(str::to_string)).ok_or_else(|| {
            format!("{line}:{column}: error: environment variable {name} is not set (write ${{{name}:-default}} for a default)")
        })?;
        out.push_str(&value);
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `sluice explain`: prints the plan.
pub fn explain(args: &ExplainArgs) -> Result<()> {
    let (_, script) = load(&args.file)?;
    print!("{}", script.explain());
    Ok(())
}

/// `sluice run`: runs the job to its end or to Ctrl-C.
pub fn run(data_dir: &Path, args: &RunArgs) -> Result<()> {
    let (name, script) = load(&args.file)?;
    if script.explain_only {
        print!("{}", script.explain());
        return Ok(());
    }
    let options = RunOptions {
        data_dir: Some(data_dir.to_path_buf()),
        parallelism: args.parallelism.and_then(|n| usize::try_from(n).ok()),
        base_dir: None,
        job_name: args.file.file_stem().map(|s| s.to_string_lossy().into_owned()),
        checkpoint_interval: args.checkpoint_interval,
        fresh: args.fresh,
        from_savepoint: args.from_savepoint.clone(),
        partition: None,
    };
    if args.scale_out {
        return scale_out(&name, &script, &options);
    }
    // Registered before anything opens: a second run of the same job must fail here, before
    // its sinks settle (abort) the transactions the live run has open.
    let job_name = script.checkpointed_name(&options).map_err(|e| anyhow!("{}", e.render(&name)))?;
    let registration = job_name.map(|job| Registration::register(data_dir, &job)).transpose()?;
    let job = script.spawn(&options).map_err(|e| anyhow!("{}", e.render(&name)))?;
    let control = job.control();
    for note in job.notes() {
        eprintln!("{note}");
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        tracing::warn!("cannot install the Ctrl-C handler: {e}");
    }
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (interrupted, done, control) = (Arc::clone(&interrupted), Arc::clone(&done), control.clone());
        std::thread::spawn(move || watch(&control, registration.as_ref(), &interrupted, &done))
    };
    let result = job.join();
    done.store(true, Ordering::SeqCst);
    let _ = watcher.join();
    let reports = result.map_err(|e| anyhow!("{}", e.render(&name)))?;
    for (insert, r) in reports {
        let mut line = format!(
            "{insert}: {} rows in, {} windows out, {} late",
            r.records_in, r.windows_emitted, r.records_late
        );
        if let Some(id) = r.restored_from {
            line.push_str(&format!("; resumed from checkpoint {id}"));
        }
        if control.name().is_some() {
            line.push_str(&format!("; {} checkpoints", r.checkpoints));
        }
        match r.stopped_at {
            Some(id) => line.push_str(&format!("; stopped at checkpoint {id}: run it again to resume")),
            None if interrupted.load(Ordering::SeqCst) => line.push_str(" (stopped)"),
            None => {}
        }
        eprintln!("{line}");
    }
    Ok(())
}

/// `sluice run --scale-out`: one instance of the job, until every partition is done (bounded
/// input) or Ctrl-C.
#[cfg(feature = "kafka")]
fn scale_out(name: &str, script: &Script, options: &RunOptions) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        tracing::warn!("cannot install the Ctrl-C handler: {e}");
    }
    let say: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|line: &str| eprintln!("{line}"));
    eprintln!("joining the job's consumer group (about 5 s) ...");
    let report = script.run_scaled_out(options, &stop, say).map_err(|e| anyhow!("{}", e.render(name)))?;
    for (partition, r) in &report.tasks {
        let mut line = format!(
            "partition {partition}: {} rows in, {} windows out, {} late",
            r.records_in, r.windows_emitted, r.records_late
        );
        if let Some(id) = r.restored_from {
            line.push_str(&format!("; resumed from checkpoint {id}"));
        }
        if let Some(id) = r.stopped_at {
            line.push_str(&format!("; stopped at checkpoint {id}"));
        }
        eprintln!("{line}");
    }
    Ok(())
}

#[cfg(not(feature = "kafka"))]
fn scale_out(_: &str, _: &Script, _: &RunOptions) -> Result<()> {
    Err(anyhow!("--scale-out needs the Kafka connector: build sluice with the cargo feature 'kafka'"))
}

/// The watcher thread: Ctrl-C, and savepoint requests of `sluice savepoint`.
fn watch(
    control: &JobControl,
    registration: Option<&Registration>,
    interrupted: &AtomicBool,
    done: &AtomicBool,
) {
    let mut last_poll = std::time::Instant::now();
    while !done.load(Ordering::SeqCst) {
        if interrupted.load(Ordering::SeqCst) {
            stop(control);
            return;
        }
        if let Some(reg) = registration.filter(|_| last_poll.elapsed() >= POLL) {
            last_poll = std::time::Instant::now();
            answer(control, reg);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ctrl-C: with checkpointing, stop with a savepoint (a rerun resumes from it); without, or if
/// the savepoint fails, drain: inputs end, open windows emit.
fn stop(control: &JobControl) {
    if control.name().is_none() {
        control.stop();
        return;
    }
    let name = chrono::Utc::now().format("stop-%Y%m%d-%H%M%S").to_string();
    eprintln!("stopping with savepoint {name} ...");
    match control.savepoint(&name, true, SAVEPOINT_TIMEOUT) {
        Ok(paths) => {
            for p in paths {
                eprintln!("savepoint: {p}");
            }
        }
        Err(e) => {
            eprintln!("the stop savepoint failed ({e}); stopping without one: open windows emit now");
            control.stop();
        }
    }
}

/// Answers a pending `sluice savepoint` request, if any.
fn answer(control: &JobControl, reg: &Registration) {
    let request = match reg.take_request() {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("{e:#}");
            return;
        }
    };
    let result = control.savepoint(&request.name, request.stop, SAVEPOINT_TIMEOUT).map_err(|e| e.to_string());
    match &result {
        Ok(paths) => eprintln!("savepoint {}: {}", request.name, paths.join(", ")),
        Err(e) => eprintln!("savepoint {} failed: {e}", request.name),
    }
    if let Err(e) = reg.respond(&request.id, result) {
        tracing::warn!("cannot answer savepoint request {}: {e:#}", request.id);
    }
}

#[cfg(test)]
mod tests {
    use super::substitute;

    fn env(name: &str) -> Option<String> {
        (name == "BROKER").then(|| "127.0.0.1:9092".to_string())
    }

    #[test]
    fn variables_defaults_and_dollars() {
        let text = "a '${BROKER}' b '${DIR:-/tmp/x}' c $$ d $e";
        assert_eq!(substitute(text, env).unwrap(), "a '127.0.0.1:9092' b '/tmp/x' c $ d $e");
    }

    #[test]
    fn a_missing_variable_is_an_error_at_its_place() {
        let err = substitute("SET 'x' = 'y';\n  '${NOPE}'", env).unwrap_err();
        assert_eq!(
            err,
            "2:4: error: environment variable NOPE is not set (write ${NOPE:-default} for a default)"
        );
        assert!(substitute("'${BROKER'", env).unwrap_err().contains("without a closing"));
    }
}
