//! [`FileSource`]: JSON-lines or CSV files, bounded.
//!
//! The path is one file or a directory; in a directory every regular file whose name does not
//! start with `.` is read, in name order, and each file is one source partition. Files are
//! opened when first read. Positions of malformed records are `path:line`.
//!
//! # Checkpoints
//! The source is replayable. A file's position is the byte offset just after the last line a
//! `poll` returned (a poll decodes every line it read, so nothing is read ahead), the number
//! of that line (so that dead letters after a restart still name the right line) and the
//! file's name: a restored directory source finds each file by name, so a file added to the
//! directory since is read from its start, and one that is gone is an error. Restoring seeks:
//! the file must still be at least as long as the position and have a line end just before it,
//! otherwise it changed since the checkpoint and the job refuses to start. A CSV header is read
//! again from the file's first line before seeking, so the columns still match by name.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_schema::SchemaRef;
use sluice_dataflow::source::{spread_partitions, Poll, Source, SourceReader};
use sluice_dataflow::Result;
use sluice_format::Position;

use super::lines::{LineDecoder, Lines};
use super::position::FilePosition;
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
    /// Positions of a checkpoint to resume from, by file name.
    restored: BTreeMap<String, FilePosition>,
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
        Ok(FileSource {
            files,
            format,
            schema,
            strict: false,
            dead_letters: DeadLetters::stderr(),
            restored: BTreeMap::new(),
        })
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
                let (offset, line) =
                    self.restored.get(&file_name(path)).map_or((0, 0), |p| (p.offset, p.line));
                parts.push(FilePart {
                    index,
                    path: Arc::from(path.as_path()),
                    lines: None,
                    decoder: LineDecoder::new(self.format, SchemaRef::clone(&self.schema), self.strict)?,
                    header: matches!(self.format, FileFormat::Csv { header: true, .. }),
                    offset,
                    line,
                    ended: false,
                });
            }
            readers.push(Box::new(FileReader { parts, cursor: 0, dead_letters: self.dead_letters.clone() }));
        }
        Ok(readers)
    }

    fn replayable(&self) -> bool {
        true
    }

    fn restore(&mut self, positions: &BTreeMap<usize, Vec<u8>>) -> Result<()> {
        let mut restored = BTreeMap::new();
        for (&p, bytes) in positions {
            let pos = FilePosition::decode(bytes, "file source", p)?;
            if !self.files.iter().any(|f| file_name(f) == pos.name) {
                return Err(error::user(format!(
                    "file source: the checkpoint has a position in file `{}` (partition {p}), which is no \
                     longer among the source's files ({})",
                    pos.name,
                    self.files
                        .first()
                        .and_then(|f| f.parent())
                        .map_or(String::new(), |d| d.display().to_string())
                )));
            }
            restored.insert(pos.name.clone(), pos);
        }
        self.restored = restored;
        Ok(())
    }
}

/// A file's name without its directory: what a position names it by.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

struct FilePart {
    index: usize,
    path: Arc<Path>,
    /// Opened on first read.
    lines: Option<Lines<File>>,
    /// One per file: a CSV header belongs to its file.
    decoder: LineDecoder,
    /// The file starts with a CSV header.
    header: bool,
    /// Bytes consumed: the next line starts here (restored, or after the last poll).
    offset: u64,
    /// Lines consumed.
    line: u64,
    ended: bool,
}

impl FilePart {
    /// Opens the file at `offset`, after checking that it can still hold that position and,
    /// when resuming a CSV file past its header, feeding the header to the decoder.
    fn open(&mut self, dead: &DeadLetters) -> Result<Lines<File>> {
        let path = Arc::clone(&self.path);
        let io = |e: std::io::Error| error::io("cannot read", &path, &e);
        let mut file = File::open(&path).map_err(|e| error::io("cannot open", &path, &e))?;
        if self.offset > 0 {
            let len = file.metadata().map_err(io)?.len();
            let mut before = [0u8];
            let problem = if self.offset > len {
                Some("past its end")
            } else if self.offset < len {
                // A complete line ends just before the position (the last line of a file may
                // lack its terminator, but then the position is the file's end).
                file.seek(SeekFrom::Start(self.offset - 1))
                    .and_then(|_| file.read_exact(&mut before))
                    .map_err(io)?;
                (before != [b'\n']).then_some("not at a line's end")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(error::user(format!(
                    "file source: {} changed since the checkpoint: it is {len} bytes long and the \
                     checkpoint's position (after line {}) is byte {}, {problem}",
                    path.display(),
                    self.line,
                    self.offset,
                )));
            }
            if self.header {
                self.read_header(&mut file, dead)?;
            }
            file.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        }
        Ok(Lines::resume(BufReader::with_capacity(1 << 16, file), false, self.offset, self.line))
    }

    /// Decodes the CSV header again: the first non-blank line, if it lies before `offset`
    /// (otherwise the header is still ahead and is read as on a first run).
    fn read_header(&mut self, file: &mut File, dead: &DeadLetters) -> Result<()> {
        let path = &self.path;
        file.seek(SeekFrom::Start(0)).map_err(|e| error::io("cannot read", path, &e))?;
        let mut reader = BufReader::new(Read::by_ref(file).take(self.offset));
        let mut line = Vec::new();
        for number in 1.. {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(|e| error::io("cannot read", path, &e))? == 0 {
                return Ok(());
            }
            if !line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
                let mut header = Lines::resume(BufReader::new(&line[..]), false, 0, number - 1);
                header.fill(1).map_err(|e| error::io("cannot read", path, &e))?;
                header.decode(&mut self.decoder, dead, |line| Position::File {
                    path: Arc::clone(path),
                    line,
                })?;
                return Ok(());
            }
        }
        Ok(())
    }
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
                let lines = part.open(&self.dead_letters)?;
                part.lines.insert(lines)
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
        (part.offset, part.line) = lines.position();
        Ok(if batch.num_rows() > 0 { Poll::Batch { partition: part.index, batch } } else { Poll::Idle })
    }

    fn positions(&self) -> Option<Vec<(usize, Vec<u8>)>> {
        let position =
            |p: &FilePart| FilePosition { offset: p.offset, line: p.line, name: file_name(&p.path) };
        Some(self.parts.iter().map(|p| (p.index, position(p).encode())).collect())
    }
}
