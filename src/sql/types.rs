//! Type names: Arrow types as the SQL names users write, and user-written
//! type names (any dialect) as the warehouse's.

/// An Arrow type as the SQL type name users write.
pub fn sql_type(t: &datafusion::arrow::datatypes::DataType) -> String {
    use datafusion::arrow::datatypes::DataType as D;
    match t {
        D::Int8 | D::Int16 | D::Int32 => "integer".into(),
        D::Int64 => "bigint".into(),
        D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => "bigint unsigned".into(),
        D::Float16 | D::Float32 => "real".into(),
        D::Float64 => "double".into(),
        D::Utf8 | D::LargeUtf8 | D::Utf8View => "varchar".into(),
        D::Boolean => "boolean".into(),
        D::Date32 | D::Date64 => "date".into(),
        D::Timestamp(_, None) => "timestamp".into(),
        D::Timestamp(_, Some(tz)) => format!("timestamp with time zone ({tz})"),
        D::Decimal128(p, s) | D::Decimal256(p, s) => format!("decimal({p},{s})"),
        D::Binary | D::LargeBinary | D::BinaryView => "bytea".into(),
        other => other.to_string().to_lowercase(),
    }
}

/// A type name from any dialect as DataFusion SQL writes it (`INT64` →
/// `BIGINT`); names DataFusion knows pass through.
pub fn warehouse_type(t: &str) -> String {
    match t.trim().to_ascii_uppercase().as_str() {
        "INT64" | "INTEGER" | "INT" | "BIGINT" => "BIGINT".into(),
        "FLOAT64" | "FLOAT" | "DOUBLE" => "DOUBLE".into(),
        "STRING" | "TEXT" => "VARCHAR".into(),
        "BOOL" => "BOOLEAN".into(),
        "NUMERIC" => "DECIMAL(38, 9)".into(),
        "BIGNUMERIC" => "DECIMAL(76, 38)".into(),
        "DATETIME" => "TIMESTAMP".into(),
        "BYTES" => "BYTEA".into(),
        _ => t.to_string(),
    }
}

/// How seeds are read: a header row, the seed's delimiter, types inferred
/// from up to 100,000 rows. Loading and static analysis must agree.
pub fn seed_csv_options(delimiter: u8) -> datafusion::prelude::CsvReadOptions<'static> {
    datafusion::prelude::CsvReadOptions::new()
        .has_header(true)
        .delimiter(delimiter)
        .schema_infer_max_records(100_000)
        .file_extension(".csv")
}
