//! [`StdinSource`]: JSON lines from standard input, one partition, until EOF.
//!
//! Positions of malformed records are `stdin:line`. A poll returns the complete lines already
//! buffered (up to `max_rows`) rather than waiting for a full batch, so a slow writer's lines
//! flow on at once; but with nothing buffered it blocks until a line or EOF arrives, whatever
//! the poll timeout: a quiet stdin holds the watermark back, as a quiet partition would.

use std::io::{BufReader, Read};
use std::time::Duration;

use arrow_schema::SchemaRef;
use sluice_dataflow::source::{Poll, Source, SourceReader};
use sluice_dataflow::Result;
use sluice_format::Position;

use super::file::FileFormat;
use super::lines::{LineDecoder, Lines};
use crate::dead_letter::DeadLetters;
use crate::error;

/// Standard input (or any reader) as a one-partition pipeline source; see the
/// [module docs](self).
#[must_use]
pub struct StdinSource {
    input: Box<dyn Read + Send>,
    schema: SchemaRef,
    strict: bool,
    dead_letters: DeadLetters,
}

impl StdinSource {
    /// JSON lines of `schema` from the process's stdin.
    ///
    /// # Errors
    /// If the schema has a field type the JSON decoder does not support.
    pub fn new(schema: SchemaRef) -> Result<Self> {
        Self::from_reader(schema, std::io::stdin())
    }

    /// JSON lines of `schema` from `input` (tests, pipes), numbered as stdin lines.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn from_reader(schema: SchemaRef, input: impl Read + Send + 'static) -> Result<Self> {
        LineDecoder::new(FileFormat::JsonLines, SchemaRef::clone(&schema), false)?;
        Ok(StdinSource { input: Box::new(input), schema, strict: false, dead_letters: DeadLetters::stderr() })
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
}

impl Source for StdinSource {
    fn schema(&self) -> SchemaRef {
        SchemaRef::clone(&self.schema)
    }

    fn partitions(&self) -> usize {
        1
    }

    fn split(self: Box<Self>, _n: usize) -> Result<Vec<Box<dyn SourceReader>>> {
        let decoder = LineDecoder::new(FileFormat::JsonLines, SchemaRef::clone(&self.schema), self.strict)?;
        Ok(vec![Box::new(StdinSourceReader {
            lines: Lines::new(BufReader::with_capacity(1 << 16, self.input), true),
            decoder,
            dead_letters: self.dead_letters,
            ended: false,
        })])
    }
}

struct StdinSourceReader {
    lines: Lines<Box<dyn Read + Send>>,
    decoder: LineDecoder,
    dead_letters: DeadLetters,
    ended: bool,
}

impl SourceReader for StdinSourceReader {
    fn partitions(&self) -> Vec<usize> {
        vec![0]
    }

    fn poll(&mut self, max_rows: usize, _timeout: Duration) -> Result<Poll> {
        if self.ended {
            return Ok(Poll::End);
        }
        let more = self
            .lines
            .fill(max_rows.max(1))
            .map_err(|e| error::io("cannot read", std::path::Path::new("stdin"), &e))?;
        if !more {
            self.ended = true;
            return Ok(Poll::PartitionEnd(0));
        }
        let batch =
            self.lines.decode(&mut self.decoder, &self.dead_letters, |line| Position::Stdin { line })?;
        Ok(if batch.num_rows() > 0 { Poll::Batch { partition: 0, batch } } else { Poll::Idle })
    }
}
