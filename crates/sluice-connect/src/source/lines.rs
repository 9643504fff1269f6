//! Line-oriented input shared by [`FileSource`](super::FileSource) and
//! [`StdinSource`](super::StdinSource): read up to `n` lines into one reused buffer, decode them
//! together, dead-letter the malformed ones.

use std::io::{BufRead, BufReader, Read};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use sluice_dataflow::Result;
use sluice_format::{CsvDecoder, JsonDecoder, Position};

use super::file::FileFormat;
use crate::dead_letter::DeadLetters;
use crate::error;

/// A JSON-lines or CSV decoder (boxed: both are large, and one is made per file).
pub(crate) enum LineDecoder {
    Json(Box<JsonDecoder>),
    Csv(Box<CsvDecoder>),
}

impl LineDecoder {
    pub(crate) fn new(format: FileFormat, schema: SchemaRef, strict: bool) -> Result<Self> {
        Ok(match format {
            FileFormat::JsonLines => LineDecoder::Json(Box::new(
                JsonDecoder::new(schema).map_err(|e| error::format(&e))?.strict(strict),
            )),
            FileFormat::Csv { header, delimiter } => LineDecoder::Csv(Box::new(
                CsvDecoder::new(schema)
                    .map_err(|e| error::format(&e))?
                    .header(header)
                    .delimiter(delimiter)
                    .strict(strict),
            )),
        })
    }
}

/// Reads lines from `R` in chunks, numbering them from 1.
pub(crate) struct Lines<R> {
    reader: BufReader<R>,
    /// Return what is buffered rather than block for more lines (for pipes and terminals,
    /// where the next line may be a long time coming).
    interactive: bool,
    /// Number of lines read so far.
    line: u64,
    /// Bytes read so far: the end of the last line read.
    offset: u64,
    /// The lines of the current chunk, back to back, terminators included.
    buf: Vec<u8>,
    /// End of each line in `buf`.
    ends: Vec<usize>,
    eof: bool,
}

impl<R: Read> Lines<R> {
    pub(crate) fn new(reader: BufReader<R>, interactive: bool) -> Self {
        Self::resume(reader, interactive, 0, 0)
    }

    /// Lines of `reader`, which is positioned `offset` bytes into its input, after line `line`.
    pub(crate) fn resume(reader: BufReader<R>, interactive: bool, offset: u64, line: u64) -> Self {
        Lines { reader, interactive, line, offset, buf: Vec::new(), ends: Vec::new(), eof: false }
    }

    /// `(bytes, lines)` consumed so far: where the next line starts, and the number of the last
    /// line read (0 before the first). Every line read is decoded by the next
    /// [`decode`](Self::decode), so after it this is just past the last line returned.
    pub(crate) fn position(&self) -> (u64, u64) {
        (self.offset, self.line)
    }

    /// Reads up to `max` lines (fewer at EOF). Returns false once EOF is reached and no line
    /// was read.
    pub(crate) fn fill(&mut self, max: usize) -> std::io::Result<bool> {
        self.buf.clear();
        self.ends.clear();
        while !self.eof && self.ends.len() < max {
            let n = self.reader.read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                self.eof = true;
            } else {
                self.ends.push(self.buf.len());
                self.offset += n as u64;
                if self.interactive && self.reader.buffer().is_empty() {
                    break;
                }
            }
        }
        Ok(!self.ends.is_empty())
    }

    /// Decodes the lines of the last [`fill`](Self::fill), with `position(line)` naming each,
    /// and writes the malformed ones to `dead`.
    pub(crate) fn decode(
        &mut self,
        decoder: &mut LineDecoder,
        dead: &DeadLetters,
        position: impl Fn(u64) -> Position,
    ) -> Result<RecordBatch> {
        let first = self.line + 1;
        self.line += self.ends.len() as u64;
        let buf = &self.buf;
        let records = self.ends.iter().enumerate().map(|(i, &end)| {
            let start = if i == 0 { 0 } else { self.ends.get(i - 1).copied().unwrap_or(0) };
            let line = buf.get(start..end).unwrap_or_default();
            // Without its terminator, so that a dead letter's `raw` is the line as written.
            let line = line.strip_suffix(b"\n").map_or(line, |l| l.strip_suffix(b"\r").unwrap_or(l));
            (position(first + i as u64), line)
        });
        let decoded = match decoder {
            LineDecoder::Json(d) => d.decode(records),
            LineDecoder::Csv(d) => d.decode(records),
        }
        .map_err(|e| error::format(&e))?;
        dead.write(&decoded.rejected)?;
        Ok(decoded.batch)
    }
}
