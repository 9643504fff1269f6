//! Flink's metadata columns: `name TYPE METADATA [FROM 'key'] [VIRTUAL]`, read from the record
//! rather than decoded from its value.
//!
//! | key         | type                                  | connector |
//! |-------------|---------------------------------------|-----------|
//! | `offset`    | `BIGINT`                              | `sluice`  |
//! | `partition` | `INT` (or `BIGINT`)                   | `sluice`  |
//! | `timestamp` | `TIMESTAMP_LTZ(3)` or `TIMESTAMP(3)`  | `sluice`  |
//!
//! The `sluice` source ([`LogSource::metadata`](sluice_connect::LogSource::metadata)) appends
//! them after the decoded columns; a watermark may be declared on `timestamp`. Metadata is read
//! only: a table written by an INSERT must declare its metadata columns `VIRTUAL` (they are then
//! not among the columns written), and an INSERT's column list cannot name them.

use arrow_schema::{DataType, Field};
use sluice_connect::LogMetadata;

use crate::ddl::{ColumnKind, TableDef};
use crate::error::{ErrorKind, Pos, Result, SqlError};

/// The metadata keys of the `sluice` connector, with their SQL types, for hints.
const KEYS: &str = "'offset' (BIGINT), 'partition' (INT), 'timestamp' (TIMESTAMP_LTZ(3))";

/// The SQL name of a column type, for messages.
fn sql_name(t: &DataType) -> &'static str {
    match t {
        DataType::Int64 => "BIGINT",
        DataType::Float64 => "DOUBLE",
        DataType::Utf8 => "STRING",
        DataType::Boolean => "BOOLEAN",
        DataType::Timestamp(..) => "TIMESTAMP(3)",
        _ => "this type",
    }
}

/// The SQL type a metadata column must have.
fn sql_type(m: LogMetadata) -> &'static str {
    match m {
        LogMetadata::Offset => "BIGINT",
        LogMetadata::Partition => "INT",
        LogMetadata::Timestamp => "TIMESTAMP_LTZ(3)",
    }
}

/// The table's metadata columns as the fields the source appends, in declaration order.
///
/// # Errors
/// A connector without metadata, an unknown key, a type that cannot hold the value.
pub fn columns(def: &TableDef) -> Result<Vec<(Field, LogMetadata)>> {
    let mut out = Vec::new();
    for c in &def.columns {
        let ColumnKind::Metadata { key, key_pos, .. } = &c.kind else { continue };
        match def.option("connector") {
            Some("sluice" | "kafka") => {}
            Some(other) => {
                return Err(SqlError::new(
                    ErrorKind::Unsupported,
                    c.pos,
                    format!("connector '{other}' has no metadata; column `{}` cannot be METADATA", c.name),
                )
                .hint(format!("metadata keys {KEYS} exist only for 'connector' = 'sluice'")))
            }
            None => {
                return Err(SqlError::new(
                    ErrorKind::Option,
                    def.pos,
                    format!("table `{}` needs the option 'connector'", def.name),
                )
                .hint("metadata columns are read from 'connector' = 'sluice'"))
            }
        }
        let Some(meta) = LogMetadata::from_key(key) else {
            return Err(SqlError::new(ErrorKind::Unknown, *key_pos, format!("unknown metadata key '{key}'"))
                .hint(format!("the sluice connector has the metadata keys {KEYS}")));
        };
        let data_type = c.data_type.clone().unwrap_or(DataType::Null);
        if !meta.accepts(&data_type) {
            return Err(SqlError::new(
                ErrorKind::Type,
                c.pos,
                format!(
                    "metadata '{key}' is {}, column `{}` is declared {}",
                    sql_type(meta),
                    c.name,
                    sql_name(&data_type)
                ),
            )
            .hint(format!("declare `{} {} METADATA FROM '{key}'`", c.name, sql_type(meta))));
        }
        out.push((Field::new(&c.name, data_type, false), meta));
    }
    Ok(out)
}

/// Checks that an INSERT may write `def`: no metadata column in its column list (`listed`:
/// names and positions), and every metadata column `VIRTUAL`.
///
/// # Errors
/// The first metadata column that would be written.
pub fn check_sink(def: &TableDef, listed: &[(String, Pos)]) -> Result<()> {
    for c in &def.columns {
        let ColumnKind::Metadata { key, is_virtual, .. } = &c.kind else { continue };
        if let Some((_, pos)) = listed.iter().find(|(name, _)| *name == c.name) {
            let what = if *is_virtual { "a VIRTUAL metadata column" } else { "a metadata column" };
            return Err(SqlError::new(
                ErrorKind::Unsupported,
                *pos,
                format!("column `{}` of `{}` is {what} ('{key}'): it is read, not written", c.name, def.name),
            )
            .hint("leave it out of the INSERT's column list"));
        }
        if !is_virtual {
            return Err(SqlError::new(
                ErrorKind::Unsupported,
                c.pos,
                format!(
                    "table `{}` is written by an INSERT, but its metadata column `{}` is not VIRTUAL",
                    def.name, c.name
                ),
            )
            .hint(format!(
                "writing record metadata is not supported: declare it `{} ... METADATA FROM '{key}' VIRTUAL` \
                 so that it is read only",
                c.name
            )));
        }
    }
    Ok(())
}
