//! Decoding many records at once while setting the malformed ones aside.
//!
//! Every format decodes the same way (see [`Splitter`]):
//!
//! 1. **Fast path.** All records go to Arrow's decoder together and are flushed once into one
//!    batch. This is the common case and costs what Arrow costs.
//! 2. **Isolation**, only if step 1 failed. Arrow fails a whole batch on one bad record, so
//!    the records are retried in groups (see [`GROUPS`]), each failing group split into
//!    smaller ones, down to single records. Each record that fails alone is rejected with
//!    Arrow's message; the others are decoded and their batches concatenated in input order.
//!    One malformed record therefore never loses its neighbours.
//! 3. **NOT NULL check.** Fields are decoded as nullable (see [`crate::schema`]), so a record
//!    that lacks a NOT NULL field decodes to a row with a null there. Such rows are rejected and
//!    filtered out. This needs no fallback: `null_count` is known per column.
//!
//! Records that are empty or only whitespace are skipped: they hold no data (a blank line in a
//! JSON-lines file), so they are neither rows nor rejects.

use arrow_array::{BooleanArray, RecordBatch};
use arrow_schema::{ArrowError, SchemaRef};
use arrow_select::concat::concat_batches;
use arrow_select::filter::filter_record_batch;

use crate::error::{FormatError, Result};
use crate::schema::SchemaPlan;
use crate::Position;

/// Group sizes tried during isolation, largest first; a failing group is split into groups of
/// the next size, and a failing group of the last size into single records.
///
/// PERF: with one bad record in each batch of 8,192 page views, decoding in groups of 256 then
/// 16 (and starting at isolation after a call that rejected) runs at 0.84× the clean speed
/// (3.0 vs 3.6 M records/s); groups of 64 then single records, after a failed whole-batch
/// attempt, ran at 0.4×, mostly in per-flush overhead and in concatenating many small batches
/// (benches/json.rs).
const GROUPS: [usize; 2] = [256, 16];

/// The outcome of decoding a group of records.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The records that decoded, in input order, in the declared schema.
    pub batch: RecordBatch,
    /// The records that did not, in input order: the dead-letter output.
    pub rejected: Vec<Rejected>,
}

impl Decoded {
    /// No rows and no rejects.
    pub(crate) fn empty(schema: &SchemaRef) -> Decoded {
        Decoded { batch: RecordBatch::new_empty(SchemaRef::clone(schema)), rejected: Vec::new() }
    }
}

/// A record that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Where it came from.
    pub position: Position,
    /// Why it was rejected, naming the field where there is one.
    pub error: String,
    /// The record's bytes, as given.
    pub raw: Vec<u8>,
}

/// One format's all-or-nothing decoder: Arrow's, with the record framing checked.
pub(crate) trait BatchDecoder {
    /// Decodes every record into one batch of the decode schema, or says what is wrong with
    /// the first record that fails. After an error the decoder must be usable again.
    fn decode_all(&mut self, records: &[&[u8]]) -> Result<RecordBatch, String>;
}

/// Splits records into decoded rows and rejects.
///
/// It remembers whether the last call needed isolation. Malformed records tend to come in runs
/// (a producer with a bug, a file in the wrong format), so after a call that rejected records
/// the next one starts at isolation instead of spending a whole-batch attempt that will fail.
#[derive(Debug, Default)]
pub(crate) struct Splitter {
    last_call_failed: bool,
}

impl Splitter {
    /// Decodes `records`, rejecting the malformed ones (or, if `strict`, failing on the first).
    pub(crate) fn decode<'a, D: BatchDecoder>(
        &mut self,
        decoder: &mut D,
        plan: &SchemaPlan,
        records: impl IntoIterator<Item = (Position, &'a [u8])>,
        strict: bool,
    ) -> Result<Decoded> {
        let records: Vec<(Position, &[u8])> = records.into_iter().filter(|(_, r)| !is_blank(r)).collect();
        if records.is_empty() {
            return Ok(Decoded::empty(plan.declared()));
        }
        let slices: Vec<&[u8]> = records.iter().map(|(_, r)| *r).collect();

        // `rows[i]` is the record index of row i when isolation dropped records (None: row i
        // is record i).
        let mut settled = Settled::default();
        let fast = if self.last_call_failed { None } else { decoder.decode_all(&slices).ok() };
        let (batch, rows) = match fast {
            Some(batch) => (batch, None),
            None => {
                settle(decoder, &slices, 0, &GROUPS, !self.last_call_failed, &mut settled);
                self.last_call_failed = !settled.failed.is_empty();
                let batch = concat_batches(plan.decode(), &settled.batches)
                    .map_err(FormatError::arrow("concatenating batches"))?;
                (batch, Some(settled.rows))
            }
        };
        let mut failed = settled.failed;
        let batch = reject_missing_required(plan, batch, rows.as_deref(), &mut failed)?;

        failed.sort_by_key(|(i, _)| *i);
        let mut rejected = Vec::with_capacity(failed.len());
        for (i, reason) in failed {
            let Some((position, raw)) = records.get(i) else { continue };
            if strict {
                return Err(FormatError::Malformed { position: position.clone(), reason });
            }
            rejected.push(Rejected { position: position.clone(), error: reason, raw: raw.to_vec() });
        }
        Ok(Decoded { batch: plan.finish(batch)?, rejected })
    }
}

/// What isolation found: the batches of good records, the record index of each of their rows,
/// and the failed records with their reasons.
#[derive(Default)]
struct Settled {
    batches: Vec<RecordBatch>,
    rows: Vec<usize>,
    failed: Vec<(usize, String)>,
}

/// Step 2: decodes `records` (which start at record index `base`) in groups of `sizes[0]`,
/// splitting each failing group further, down to single records that fail on their own.
/// `known_bad` says that `records` as a whole has just failed, so it is not tried again.
fn settle<D: BatchDecoder>(
    decoder: &mut D,
    records: &[&[u8]],
    base: usize,
    sizes: &[usize],
    known_bad: bool,
    out: &mut Settled,
) {
    let Some((&size, smaller)) = sizes.split_first() else {
        for (i, record) in records.iter().enumerate() {
            match decoder.decode_all(std::slice::from_ref(record)) {
                Ok(batch) => {
                    out.batches.push(batch);
                    out.rows.push(base + i);
                }
                Err(reason) => out.failed.push((base + i, reason)),
            }
        }
        return;
    };
    let whole_is_one_group = records.len() <= size;
    for (g, group) in records.chunks(size).enumerate() {
        let start = base + g * size;
        if group.len() > 1 && !(known_bad && whole_is_one_group) {
            if let Ok(batch) = decoder.decode_all(group) {
                out.batches.push(batch);
                out.rows.extend(start..start + group.len());
                continue;
            }
        }
        settle(decoder, group, start, smaller, true, out);
    }
}

/// Step 3: rejects the rows with a null in a NOT NULL field and filters them out.
fn reject_missing_required(
    plan: &SchemaPlan,
    batch: RecordBatch,
    rows: Option<&[usize]>,
    failed: &mut Vec<(usize, String)>,
) -> Result<RecordBatch> {
    let columns: Vec<usize> =
        plan.required().iter().copied().filter(|&j| batch.column(j).null_count() > 0).collect();
    if columns.is_empty() {
        return Ok(batch);
    }
    let schema = plan.declared();
    let mut keep = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let missing: Vec<&str> = columns
            .iter()
            .filter(|&&j| batch.column(j).is_null(row))
            .map(|&j| schema.field(j).name().as_str())
            .collect();
        keep.push(missing.is_empty());
        if !missing.is_empty() {
            let record = rows.and_then(|r| r.get(row).copied()).unwrap_or(row);
            failed.push((record, missing_message(&missing)));
        }
    }
    filter_record_batch(&batch, &BooleanArray::from(keep))
        .map_err(FormatError::arrow("filtering rejected rows"))
}

fn missing_message(fields: &[&str]) -> String {
    let names: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
    match names.as_slice() {
        [one] => format!("required field {one} is missing or null"),
        _ => format!("required fields {} are missing or null", names.join(", ")),
    }
}

/// Whether a record holds nothing but JSON whitespace.
pub(crate) fn is_blank(record: &[u8]) -> bool {
    record.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Arrow's message without the `Json error: ` style prefix its `Display` adds.
pub(crate) fn arrow_message(e: ArrowError) -> String {
    match e {
        ArrowError::JsonError(s) | ArrowError::CsvError(s) | ArrowError::ParseError(s) => s,
        ArrowError::CastError(s) | ArrowError::InvalidArgumentError(s) => s,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn blank_means_json_whitespace_only() {
        assert!(is_blank(b""));
        assert!(is_blank(b" \t\r\n"));
        assert!(!is_blank(b" {} "));
        assert!(!is_blank(b"\x0c"));
    }

    #[test]
    fn missing_message_names_every_field() {
        assert_eq!(missing_message(&["ts"]), "required field `ts` is missing or null");
        assert_eq!(missing_message(&["ts", "url"]), "required fields `ts`, `url` are missing or null");
    }
}
