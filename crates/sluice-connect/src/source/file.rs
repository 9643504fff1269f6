//! [`FileSource`]: JSON-lines or CSV files, bounded.
//!
//! The path is one file or a directory; in a directory every regular file whose name does not
//! start with `.` is read, in name order, and each file is one source partition. Files are
//! opened when first read. Positions of malformed records are `path:line`.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_schema::SchemaRef;
use sluice_dataflow::source::{spread_partitions, Poll, Source, SourceReader};
use sluice_dataflow::Result;
use sluice_format::Position;

use super::lines::{LineDecoder, Lines};
use crate::dead_letter::DeadLetters;
use crate::error;

/// The format of a file's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// One JSON object per line.
    JsonLines,
    /// One CSV row per line.
    Csv {
        /// The first line names the columns (matched to the schema by name).
        header: bool,
        /// The field delimiter, e.g. `b','`.
        delimiter: u8,
    },
}

/// Files as a pipeline source; see the [module docs](self).
#[must_use]
pub struct FileSource {
    files: Vec<PathBuf>,
    format: FileFormat,
    schema: SchemaRef,
    strict: bool,
    dead_letters: DeadLetters,
}

impl FileSource {
    /// Reads `path` (a file, or a directory of files) in `format` into `schema`.
    ///
    /// # Errors
    /// If the path does not exist, a directory holds no file, or the schema has a field type
    /// the format does not decode.
    pub fn new(path: impl AsRef<Path>, format: FileFormat, schema: SchemaRef) -> Result<Self> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| error::io("file source", path, &e))?;
        let files = if meta.is_dir() {
            let mut files = Vec::new();
            for entry in std::fs::read_dir(path).map_err(|e| error::io("cannot list", path, &e))? {
                let entry = entry.map_err(|e| error::io("cannot list", path, &e))?;
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if !hidden && entry.file_type().is_ok_and(|t| t.is_file()) {
                    files.push(entry.path());
                }
            }
            files.sort();
            if files.is_empty() {
                return Err(error::user(format!("file source: no files in directory {}", path.display())));
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        LineDecoder::new(format, SchemaRef::clone(&schema), false)?;
        Ok(FileSource { files, format, schema, strict: false, dead_letters: DeadLetters::stderr() })
    }

    /// Fail the job on the first malformed record instead of dead-lettering it. Default = false.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Where malformed records go. Default = [`DeadLetters::stderr`].
    pub fn dead_letters(mut self, dead_letters: DeadLetters) -> Self {
        self.dead_letters = dead_letters;
        self
    }

    /// The files, one per partition.
    #[must_use]
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl Source for FileSource {
    fn schema(&self) -> SchemaRef {
        SchemaRef::clone(&self.schema)
    }

    fn partitions(&self) -> usize {
        self.files.len()
    }

    fn split(self: Box<Self>, n: usize) -> Result<Vec<Box<dyn SourceReader>>> {
        let mut readers: Vec<Box<dyn SourceReader>> = Vec::new();
        for owned in spread_partitions(self.files.len(), n) {
            let mut parts = Vec::new();
            for index in owned {
                let Some(path) = self.files.get(index) else { continue };
                parts.push(FilePart {
                    index,
                    path: Arc::from(path.as_path()),
                    lines: None,
                    decoder: LineDecoder::new(self.format, SchemaRef::clone(&self.schema), self.strict)?,
                    ended: false,
                });
            }
            readers.push(Box::new(FileReader { parts, cursor: 0, dead_letters: self.dead_letters.clone() }));
        }
        Ok(readers)
    }
}

struct FilePart {
    index: usize,
    path: Arc<Path>,
    /// Opened on first read.
    lines: Option<Lines<File>>,
    /// One per file: a CSV header belongs to its file.
    decoder: LineDecoder,
    ended: bool,
}

struct FileReader {
    parts: Vec<FilePart>,
    cursor: usize,
    dead_letters: DeadLetters,
}

impl SourceReader for FileReader {
    fn partitions(&self) -> Vec<usize> {
        self.parts.iter().map(|p| p.index).collect()
    }

    fn poll(&mut self, max_rows: usize, _timeout: Duration) -> Result<Poll> {
        let n = self.parts.len();
        let Some(i) =
            (0..n).map(|k| (self.cursor + k) % n).find(|&i| self.parts.get(i).is_some_and(|p| !p.ended))
        else {
            return Ok(Poll::End);
        };
        self.cursor = i + 1;
        let Some(part) = self.parts.get_mut(i) else { return Ok(Poll::End) };
        let lines = match &mut part.lines {
            Some(lines) => lines,
            None => {
                let file = File::open(&part.path).map_err(|e| error::io("cannot open", &part.path, &e))?;
                part.lines.insert(Lines::new(BufReader::with_capacity(1 << 16, file), false))
            }
        };
        if !lines.fill(max_rows.max(1)).map_err(|e| error::io("cannot read", &part.path, &e))? {
            part.ended = true;
            part.lines = None;
            return Ok(Poll::PartitionEnd(part.index));
        }
        let path = &part.path;
        let batch = lines.decode(&mut part.decoder, &self.dead_letters, |line| Position::File {
            path: Arc::clone(path),
            line,
        })?;
        Ok(if batch.num_rows() > 0 { Poll::Batch { partition: part.index, batch } } else { Poll::Idle })
    }
}
