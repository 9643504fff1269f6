//! `sluice run FILE.sql` and `sluice explain FILE.sql`: a SQL job file, compiled whole by
//! `sluice-sql` (nothing starts unless every statement plans), then run as one job — one
//! pipeline per INSERT — until its bounded inputs are consumed or Ctrl-C stops it. Errors are
//! printed as `FILE:LINE:COL: error: ...` with a hint.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use sluice_sql::{compile, RunOptions, Script};

use crate::cli::{ExplainArgs, RunArgs};

fn load(file: &Path) -> Result<(String, Script)> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.display().to_string();
    let script = compile(&text).map_err(|e| anyhow!("{}", e.render(&name)))?;
    Ok((name, script))
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
    };
    let job = script.spawn(&options).map_err(|e| anyhow!("{}", e.render(&name)))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        tracing::warn!("cannot install the Ctrl-C handler: {e}");
    }
    let handles = job.handles();
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if stop.load(Ordering::SeqCst) {
                    for h in &handles {
                        h.stop();
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let result = job.join();
    done.store(true, Ordering::SeqCst);
    let _ = watcher.join();
    let reports = result.map_err(|e| anyhow!("{}", e.render(&name)))?;
    for (insert, r) in reports {
        eprintln!(
            "{insert}: {} rows in, {} windows out, {} late{}",
            r.records_in,
            r.windows_emitted,
            r.records_late,
            if stop.load(Ordering::SeqCst) { " (stopped)" } else { "" }
        );
    }
    Ok(())
}
