//! Query results (Arrow record batches, from any warehouse) as text: a
//! table for the console, CSV, JSON objects.

use ::datafusion::arrow::record_batch::RecordBatch;

/// Formats rows for people: an aligned text table.
pub fn pretty(batches: &[RecordBatch]) -> String {
    ::datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Rows as CSV with a header.
pub fn to_csv(batches: &[RecordBatch]) -> Result<String, String> {
    let mut buf = Vec::new();
    {
        let mut w = ::datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut buf);
        for b in batches {
            w.write(b).map_err(|e| e.to_string())?;
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Rows as a JSON array of objects.
pub fn to_json(batches: &[RecordBatch]) -> Result<String, String> {
    let mut buf = Vec::new();
    {
        let mut w = ::datafusion::arrow::json::ArrayWriter::new(&mut buf);
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        w.write_batches(&refs).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(if text.is_empty() { "[]".into() } else { text })
}

/// The first cell of a query's result as a count.
pub fn first_count(batches: &[RecordBatch]) -> Option<u64> {
    use ::datafusion::arrow::array::Array;
    use ::datafusion::arrow::compute::cast;
    use ::datafusion::arrow::datatypes::DataType;
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let col = cast(b.column(0), &DataType::Int64).ok()?;
    let ints = col
        .as_any()
        .downcast_ref::<::datafusion::arrow::array::Int64Array>()?;
    (!ints.is_null(0)).then(|| ints.value(0).max(0) as u64)
}

/// The first cell of a result as an instant (a timestamp without a zone is
/// UTC, as dbt reads it), for freshness queries.
pub fn first_timestamp(
    batches: &[RecordBatch],
) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    use ::datafusion::arrow::array::{Array, TimestampMicrosecondArray};
    use ::datafusion::arrow::datatypes::{DataType, TimeUnit};
    let Some(column) = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| b.column(0))
    else {
        return Ok(None);
    };
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let cast =
        ::datafusion::arrow::compute::cast(column, &utc).map_err(|e| format!("loaded_at: {e}"))?;
    let Some(micros) = cast.as_any().downcast_ref::<TimestampMicrosecondArray>() else {
        return Ok(None);
    };
    if micros.is_null(0) {
        return Ok(None);
    }
    Ok(chrono::DateTime::from_timestamp_micros(micros.value(0)))
}
