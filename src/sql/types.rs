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

/// Registers the seed file `path` as the table `name`, typed as a local
/// build and the static analysis both see it: types inferred from up to
/// 100,000 rows, and timestamp columns parsed the way DuckDB's CSV reader
/// (which dbt-duckdb loads seeds with) parses them, so `2021-01-01 00:00`
/// is a timestamp rather than an error.
pub async fn register_seed(
    ctx: &datafusion::prelude::SessionContext,
    name: &str,
    path: &str,
    delimiter: u8,
) -> datafusion::error::Result<()> {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let raw = format!("{name}__raw");
    ctx.register_csv(raw.as_str(), path, seed_csv_options(delimiter))
        .await?;
    let inferred = ctx.table(raw.as_str()).await?.schema().as_arrow().clone();
    // Text columns whose every value is a timestamp in a layout Arrow's
    // inference does not take (`2021-01-01 00:00`) are timestamps too.
    let text_columns: Vec<&str> = inferred
        .fields()
        .iter()
        .filter(|f| f.data_type() == &DataType::Utf8)
        .map(|f| f.name().as_str())
        .collect();
    let mut short_timestamps: Vec<String> = Vec::new();
    if !text_columns.is_empty() {
        let checks = text_columns
            .iter()
            .map(|c| {
                let col = quote_ident(c);
                format!("count({col}) > 0 AND bool_and({col} ~ '{TIMESTAMP_TEXT}') AS {col}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let batches = ctx
            .sql(&format!("SELECT {checks} FROM {}", quote_ident(&raw)))
            .await?
            .collect()
            .await?;
        if let Some(batch) = batches.first() {
            for (i, c) in text_columns.iter().enumerate() {
                let flag = datafusion::common::ScalarValue::try_from_array(batch.column(i), 0)?;
                if flag == datafusion::common::ScalarValue::Boolean(Some(true)) {
                    short_timestamps.push(c.to_string());
                }
            }
        }
    }
    let timestamps: Vec<bool> = inferred
        .fields()
        .iter()
        .map(|f| {
            matches!(f.data_type(), DataType::Timestamp(..))
                || short_timestamps.iter().any(|s| s == f.name())
        })
        .collect();
    if !timestamps.contains(&true) {
        ctx.deregister_table(raw.as_str())?;
        return ctx
            .register_csv(name, path, seed_csv_options(delimiter))
            .await;
    }
    // Timestamp columns are read as text and parsed with every layout
    // DuckDB accepts for a timestamp without a zone.
    ctx.deregister_table(raw.as_str())?;
    let text_schema = Schema::new(
        inferred
            .fields()
            .iter()
            .zip(&timestamps)
            .map(|(f, ts)| {
                if *ts {
                    Field::new(f.name(), DataType::Utf8, true)
                } else {
                    f.as_ref().clone()
                }
            })
            .collect::<Vec<_>>(),
    );
    ctx.register_csv(
        raw.as_str(),
        path,
        seed_csv_options(delimiter).schema(&text_schema),
    )
    .await?;
    let quote = quote_ident;
    let select = inferred
        .fields()
        .iter()
        .zip(&timestamps)
        .map(|(f, ts)| {
            let col = quote(f.name());
            if *ts {
                format!("{} AS {col}", parse_timestamp_text(&col))
            } else {
                col
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let df = ctx
        .sql(&format!("SELECT {select} FROM {}", quote(&raw)))
        .await?;
    ctx.register_table(name, df.into_view())?;
    Ok(())
}

/// A timestamp without a zone as seed files write it: a date, and a time of
/// hours and minutes with optional seconds and fraction.
const TIMESTAMP_TEXT: &str = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$";

fn quote_ident(n: &str) -> String {
    format!("\"{}\"", n.replace('"', "\"\""))
}

/// SQL parsing the text `expr` as a timestamp in any layout DuckDB's CSV
/// reader accepts for one without a zone (DataFusion's cast requires
/// seconds).
pub fn parse_timestamp_text(expr: &str) -> String {
    format!(
        "to_timestamp_micros({expr}, '%Y-%m-%d %H:%M:%S%.f', '%Y-%m-%dT%H:%M:%S%.f', \
         '%Y-%m-%d %H:%M', '%Y-%m-%dT%H:%M', '%Y-%m-%d')"
    )
}

/// An engine message with its Arrow type names (`Utf8 + Int64`) spelled as
/// the SQL types the user writes (`VARCHAR + BIGINT`; `STRING + INT64` for
/// BigQuery SQL).
pub fn sql_types_in_message(message: &str, dialect: &str) -> String {
    static ARROW: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"\b(?:Timestamp\((?:[^()]|\([^()]*\))*\)|Decimal(?:128|256)\(\d+, *-?\d+\)|Interval\(\w+\)|Duration\(\w+\)|(?:Utf8View|LargeUtf8|Utf8|U?Int(?:8|16|32|64)|Float(?:16|32|64)|Boolean|Date32|Date64|LargeBinary|BinaryView|Binary)\b)",
        )
        .ok()
    });
    let Some(re) = ARROW.as_ref() else {
        return message.to_string();
    };
    let bigquery = dialect.eq_ignore_ascii_case("bigquery");
    re.replace_all(message, |caps: &regex::Captures| {
        let t = &caps[0];
        let name: String = if let Some(inner) = t.strip_prefix("Timestamp(") {
            let zoned = !inner.contains("None") && inner.contains(',');
            match (bigquery, zoned) {
                (true, true) => "TIMESTAMP".into(),
                (true, false) => "DATETIME".into(),
                (false, true) => "TIMESTAMP WITH TIME ZONE".into(),
                (false, false) => "TIMESTAMP".into(),
            }
        } else if let Some(args) = t
            .strip_prefix("Decimal128")
            .or_else(|| t.strip_prefix("Decimal256"))
        {
            if bigquery {
                "NUMERIC".into()
            } else {
                format!("DECIMAL{}", args.replace(' ', ""))
            }
        } else if t.starts_with("Interval(") || t.starts_with("Duration(") {
            "INTERVAL".into()
        } else {
            let (duck, bq) = match t {
                "Utf8" | "Utf8View" | "LargeUtf8" => ("VARCHAR", "STRING"),
                "Int8" => ("TINYINT", "INT64"),
                "Int16" => ("SMALLINT", "INT64"),
                "Int32" => ("INTEGER", "INT64"),
                "Int64" => ("BIGINT", "INT64"),
                "UInt8" => ("UTINYINT", "INT64"),
                "UInt16" => ("USMALLINT", "INT64"),
                "UInt32" => ("UINTEGER", "INT64"),
                "UInt64" => ("UBIGINT", "INT64"),
                "Float16" | "Float32" => ("FLOAT", "FLOAT64"),
                "Float64" => ("DOUBLE", "FLOAT64"),
                "Boolean" => ("BOOLEAN", "BOOL"),
                "Date32" | "Date64" => ("DATE", "DATE"),
                _ => ("BLOB", "BYTES"),
            };
            if bigquery { bq } else { duck }.into()
        };
        name
    })
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::sql_types_in_message;

    #[test]
    fn arrow_type_names_become_sql_type_names() {
        assert_eq!(
            sql_types_in_message(
                "Cannot coerce arithmetic expression Utf8 + Int64 to valid types",
                "duckdb"
            ),
            "Cannot coerce arithmetic expression VARCHAR + BIGINT to valid types"
        );
        assert_eq!(
            sql_types_in_message("Utf8 + Int64", "bigquery"),
            "STRING + INT64"
        );
        assert_eq!(
            sql_types_in_message(
                "cannot compare Timestamp(Nanosecond, None) with Timestamp(Microsecond, Some(\"UTC\")) or Decimal128(10, 2)",
                "postgres"
            ),
            "cannot compare TIMESTAMP with TIMESTAMP WITH TIME ZONE or DECIMAL(10,2)"
        );
        // Words that only contain a type name are left alone.
        assert_eq!(
            sql_types_in_message("column my_Int64_col and Utf8ish", "duckdb"),
            "column my_Int64_col and Utf8ish"
        );
    }
}
