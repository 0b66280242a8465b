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
