//! Flink functions DataFusion does not have under the same name.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::TimestampMillisecondArray;
use arrow_schema::{DataType, TimeUnit};
use datafusion_common::{exec_err, plan_err, Result, ScalarValue};
use datafusion_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// `TO_TIMESTAMP_LTZ(epoch, precision)`: an epoch number in seconds (precision 0) or
/// milliseconds (precision 3) as a timestamp.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToTimestampLtz {
    signature: Signature,
}

impl ToTimestampLtz {
    /// The function as a UDF.
    #[must_use]
    pub fn udf() -> Arc<ScalarUDF> {
        let signature = Signature::exact(vec![DataType::Int64, DataType::Int64], Volatility::Immutable);
        Arc::new(ScalarUDF::new_from_impl(ToTimestampLtz { signature }))
    }
}

impl ScalarUDFImpl for ToTimestampLtz {
    fn name(&self) -> &str {
        "to_timestamp_ltz"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value, precision] = args.args.as_slice() else {
            return plan_err!("TO_TIMESTAMP_LTZ takes (epoch, precision)");
        };
        let factor = match precision {
            ColumnarValue::Scalar(ScalarValue::Int64(Some(0))) => 1_000,
            ColumnarValue::Scalar(ScalarValue::Int64(Some(3))) => 1,
            _ => return exec_err!("TO_TIMESTAMP_LTZ: the precision must be the literal 0 or 3"),
        };
        let array = value.to_array(args.number_rows)?;
        let ints = array.as_primitive::<Int64Type>();
        let out: TimestampMillisecondArray = if factor == 1 {
            // Milliseconds already: the same buffer, reinterpreted (no copy).
            ints.reinterpret_cast()
        } else {
            ints.iter().map(|v| v.and_then(|v| v.checked_mul(factor))).collect()
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Int64Array};
    use arrow_schema::Field;
    use datafusion_common::config::ConfigOptions;

    #[test]
    fn seconds_and_millis() {
        let udf = ToTimestampLtz::udf();
        let call = |p: i64| {
            let args = ScalarFunctionArgs {
                args: vec![
                    ColumnarValue::Array(Arc::new(Int64Array::from(vec![Some(2), None]))),
                    ColumnarValue::Scalar(ScalarValue::Int64(Some(p))),
                ],
                arg_fields: vec![],
                number_rows: 2,
                return_field: Arc::new(Field::new(
                    "t",
                    DataType::Timestamp(TimeUnit::Millisecond, None),
                    true,
                )),
                config_options: Arc::new(ConfigOptions::default()),
            };
            udf.invoke_with_args(args).and_then(|v| v.to_array(2))
        };
        let ms = call(0).expect("precision 0");
        let ms = ms.as_primitive::<arrow_array::types::TimestampMillisecondType>();
        assert_eq!(ms.value(0), 2_000);
        assert!(ms.is_null(1));
        let ms = call(3).expect("precision 3");
        let ms = ms.as_primitive::<arrow_array::types::TimestampMillisecondType>();
        assert_eq!((ms.value(0), ms.is_null(1)), (2, true));
        assert!(call(6).is_err());
    }
}
