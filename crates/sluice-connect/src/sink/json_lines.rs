//! [`StdoutSink`] and [`FileSink`]: result rows as JSON lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use sluice_dataflow::sink::Sink;
use sluice_dataflow::Result;
use sluice_format::JsonEncoder;

use crate::error;

/// Writes each row as a JSON line to stdout. Each batch is written with one call, under the
/// stdout lock, so lines of other threads never interleave with it.
#[derive(Debug, Default)]
pub struct StdoutSink {
    encoder: JsonEncoder,
    buf: Vec<u8>,
}

impl StdoutSink {
    /// A sink to stdout.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Sink for StdoutSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.buf.clear();
        self.encoder.encode(batch, &mut self.buf).map_err(|e| error::format(&e))?;
        std::io::stdout()
            .lock()
            .write_all(&self.buf)
            .map_err(|e| error::io("cannot write to", Path::new("stdout"), &e))
    }

    fn flush(&mut self) -> Result<()> {
        std::io::stdout().flush().map_err(|e| error::io("cannot write to", Path::new("stdout"), &e))
    }
}

/// Writes each row as a JSON line to a file (created, or truncated if it exists). Lines are
/// buffered; they reach the file when the runtime flushes the sink (after a short quiet
/// spell) and when the job finishes.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    out: BufWriter<File>,
    encoder: JsonEncoder,
    buf: Vec<u8>,
}

impl FileSink {
    /// A sink writing to `path`.
    ///
    /// # Errors
    /// If the file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| error::io("cannot create", &path, &e))?;
        Ok(FileSink {
            path,
            out: BufWriter::with_capacity(1 << 16, file),
            encoder: JsonEncoder::new(),
            buf: Vec::new(),
        })
    }
}

impl Sink for FileSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.buf.clear();
        self.encoder.encode(batch, &mut self.buf).map_err(|e| error::format(&e))?;
        self.out.write_all(&self.buf).map_err(|e| error::io("cannot write to", &self.path, &e))
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| error::io("cannot write to", &self.path, &e))
    }

    fn finish(&mut self) -> Result<()> {
        self.flush()?;
        self.out.get_ref().sync_data().map_err(|e| error::io("cannot sync", &self.path, &e))
    }
}
