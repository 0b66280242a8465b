//! Functions with BigQuery's semantics where DataFusion has none of its own
//! (`bq_*`), called by the translated SQL. Each works row by row on
//! `ScalarValue`s: simple to keep exact, fast enough for date logic.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};
use datafusion::arrow::datatypes::{DataType, Field, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

type Eval = fn(&[ScalarValue]) -> Result<ScalarValue, String>;
type Returns = fn(&[DataType]) -> DataType;

/// A function evaluated one row at a time.
#[derive(Debug)]
struct RowFunction {
    name: &'static str,
    signature: Signature,
    returns: Returns,
    eval: Eval,
}

// Names are unique among rdbt's functions, so they are the identity.
impl PartialEq for RowFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for RowFunction {}

impl std::hash::Hash for RowFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for RowFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok((self.returns)(arg_types))
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let return_type = args.return_field.data_type().clone();
        let typed_null = ScalarValue::try_from(&return_type)?;
        let fail = |row_message: String| {
            DataFusionError::Execution(format!("{}: {row_message}", self.name))
        };
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let mut out = Vec::with_capacity(rows);
        let mut row = Vec::with_capacity(args.args.len());
        for i in 0..rows {
            row.clear();
            for a in &args.args {
                row.push(match a {
                    ColumnarValue::Scalar(s) => s.clone(),
                    ColumnarValue::Array(array) => ScalarValue::try_from_array(array, i)?,
                });
            }
            let value = (self.eval)(&row).map_err(fail)?;
            out.push(if value.is_null() {
                typed_null.clone()
            } else {
                value
            });
        }
        if all_scalar {
            return Ok(ColumnarValue::Scalar(out.pop().unwrap_or(typed_null)));
        }
        if out.is_empty() {
            return Ok(ColumnarValue::Array(
                datafusion::arrow::array::new_empty_array(&return_type),
            ));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

fn function(name: &'static str, arity: usize, returns: Returns, eval: Eval) -> ScalarUDF {
    ScalarUDF::new_from_impl(RowFunction {
        name,
        signature: Signature::any(arity, Volatility::Immutable),
        returns,
        eval,
    })
}

fn variadic(name: &'static str, returns: Returns, eval: Eval) -> ScalarUDF {
    ScalarUDF::new_from_impl(RowFunction {
        name,
        signature: Signature::variadic_any(Volatility::Immutable),
        returns,
        eval,
    })
}

/// Registers every `bq_*` function with the warehouse's context, and
/// `coalesce` with literal-friendly coercion.
pub fn register_functions(ctx: &SessionContext) {
    for f in all_functions() {
        ctx.register_udf(f);
    }
    ctx.register_udf(ScalarUDF::new_from_impl(StringAdaptingCoalesce::new()));
}

/// DataFusion's `coalesce`, except that a string argument among
/// arguments of one other type takes that type, as a string literal does in
/// DuckDB, Postgres and BigQuery (`coalesce(valid_to, '2099-01-01')` with a
/// DATE `valid_to` is a DATE). DataFusion alone refuses `coalesce(Date32,
/// Utf8)`.
#[derive(Debug)]
struct StringAdaptingCoalesce {
    inner: Arc<ScalarUDF>,
}

impl StringAdaptingCoalesce {
    fn new() -> Self {
        StringAdaptingCoalesce {
            inner: datafusion::functions::core::coalesce(),
        }
    }
}

impl PartialEq for StringAdaptingCoalesce {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for StringAdaptingCoalesce {}

impl std::hash::Hash for StringAdaptingCoalesce {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "rdbt.coalesce".hash(state);
    }
}

fn is_string_type(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

impl ScalarUDFImpl for StringAdaptingCoalesce {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> datafusion::common::Result<datafusion::arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }

    fn simplify(
        &self,
        args: Vec<datafusion::logical_expr::Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> datafusion::common::Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> datafusion::common::Result<Vec<DataType>> {
        let others: Vec<&DataType> = arg_types
            .iter()
            .filter(|t| !is_string_type(t) && !t.is_null())
            .collect();
        let adapts = others.len() < arg_types.len()
            && others.first().is_some_and(|first| {
                others.iter().all(|t| t == first)
                    && (first.is_temporal() || first.is_numeric() || **first == DataType::Boolean)
            });
        match others.first() {
            Some(target) if adapts => Ok(vec![(*target).clone(); arg_types.len()]),
            _ => self.inner.inner().coerce_types(arg_types),
        }
    }
}

fn all_functions() -> Vec<ScalarUDF> {
    vec![
        function("bq_extract", 2, |_| DataType::Int64, extract),
        function("bq_date", 2, |_| DataType::Date32, date),
        function("bq_timestamp", 2, |_| timestamp_type(), timestamp),
        function("bq_date_trunc", 2, |_| DataType::Date32, date_trunc),
        function(
            "bq_timestamp_trunc",
            2,
            |_| timestamp_type(),
            timestamp_trunc,
        ),
        function("bq_date_add", 3, |_| DataType::Date32, date_add),
        function("bq_timestamp_add", 3, |_| timestamp_type(), timestamp_add),
        function("bq_date_diff", 3, |_| DataType::Int64, date_diff),
        function("bq_datetime_diff", 3, |_| DataType::Int64, datetime_diff),
        function("bq_timestamp_diff", 3, |_| DataType::Int64, timestamp_diff),
        function("bq_last_day", 2, |_| DataType::Date32, last_day),
        function("bq_format_date", 2, |_| DataType::Utf8, format_date),
        function("bq_parse_date", 3, |_| DataType::Date32, parse_date),
        function(
            "bq_parse_timestamp",
            3,
            |_| timestamp_type(),
            parse_timestamp,
        ),
        function(
            "bq_generate_date_array",
            4,
            |_| DataType::List(Arc::new(Field::new("item", DataType::Date32, true))),
            generate_date_array,
        ),
        function("bq_json_value", 2, |_| DataType::Utf8, json_value),
        function("bq_json_query", 2, |_| DataType::Utf8, json_query),
        function("bq_regexp_extract", 2, |_| DataType::Utf8, regexp_extract),
        function("bq_to_zone", 2, |_| timestamp_type(), bq_to_zone),
        function("bq_from_zone", 2, |_| timestamp_type(), bq_from_zone),
        function("bq_int64", 2, |_| DataType::Int64, bq_int64),
        variadic("bq_format", |_| DataType::Utf8, format),
        function(
            "rdbt_interval",
            2,
            |_| DataType::Interval(IntervalUnit::MonthDayNano),
            interval_of,
        ),
        function(
            "rdbt_interval_mul",
            2,
            |_| DataType::Interval(IntervalUnit::MonthDayNano),
            interval_times,
        ),
        variadic(
            "duckdb_regexp_extract",
            |_| DataType::Utf8,
            duckdb_regexp_extract,
        ),
        function("duckdb_typeof", 1, |_| DataType::Utf8, duckdb_typeof),
        function(
            "duckdb_epoch_ms",
            1,
            |t| match t.first() {
                Some(t) if t.is_integer() => timestamp_type(),
                _ => DataType::Int64,
            },
            duckdb_epoch_ms,
        ),
        function(
            "rdbt_at_time_zone",
            2,
            |t| match t.first() {
                Some(DataType::Timestamp(_, Some(_))) => timestamp_type(),
                _ => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            },
            at_time_zone,
        ),
        function(
            "duckdb_date_trunc",
            2,
            |t| match t.get(1) {
                Some(DataType::Date32 | DataType::Date64) => DataType::Date32,
                _ => timestamp_type(),
            },
            duckdb_date_trunc,
        ),
    ]
}

/// `n` of `part` as an interval: `INTERVAL (expr) DAY` computed per row.
/// Months and years stay calendar months, weeks and days stay days, as in
/// DuckDB and Postgres; a fraction of a month or day is refused.
fn interval_of(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let Some(n) = number(&args[0]) else {
        return Ok(ScalarValue::Null);
    };
    let part = part(&args[1])?;
    let whole = |n: f64, what: &str| {
        if n.fract() == 0.0 {
            Ok(n as i64)
        } else {
            Err(format!(
                "a fractional number of {what} ({n}) is not an interval"
            ))
        }
    };
    let nanos = |unit: f64| (n * unit).round() as i64;
    let (months, days, ns) = match part.as_str() {
        "year" | "years" => (whole(n, "years")? * 12, 0, 0),
        "quarter" | "quarters" => (whole(n, "quarters")? * 3, 0, 0),
        "month" | "months" => (whole(n, "months")?, 0, 0),
        "week" | "weeks" => (0, whole(n * 7.0, "days")?, 0),
        "day" | "days" => (0, whole(n, "days")?, 0),
        "hour" | "hours" => (0, 0, nanos(3.6e12)),
        "minute" | "minutes" => (0, 0, nanos(6e10)),
        "second" | "seconds" => (0, 0, nanos(1e9)),
        "millisecond" | "milliseconds" => (0, 0, nanos(1e6)),
        "microsecond" | "microseconds" => (0, 0, nanos(1e3)),
        other => return Err(format!("`{other}` is not an interval unit")),
    };
    Ok(ScalarValue::IntervalMonthDayNano(Some(
        IntervalMonthDayNano::new(
            i32::try_from(months).map_err(|_| "interval out of range".to_string())?,
            i32::try_from(days).map_err(|_| "interval out of range".to_string())?,
            ns,
        ),
    )))
}

/// `value AT TIME ZONE zone` as DuckDB and Postgres mean it: a timestamp
/// without a time zone is wall time in `zone`, and becomes that instant
/// (a UTC timestamp); a timestamp with one becomes the wall time in `zone`.
fn at_time_zone(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let aware = matches!(
        &args[0],
        ScalarValue::TimestampSecond(_, Some(_))
            | ScalarValue::TimestampMillisecond(_, Some(_))
            | ScalarValue::TimestampMicrosecond(_, Some(_))
            | ScalarValue::TimestampNanosecond(_, Some(_))
    );
    let Some(t) = datetime(&args[0])? else {
        return Ok(ScalarValue::Null);
    };
    let Some(zone_name) = text(&args[1]) else {
        return Ok(ScalarValue::Null);
    };
    let zone = parse_zone(zone_name)?;
    if aware {
        let offset = offset_at_instant(zone, t);
        return Ok(to_timestamp_value(
            t + Duration::seconds(offset.local_minus_utc() as i64),
        ));
    }
    let offset = offset_at_wall_time(zone, t);
    let utc = t - Duration::seconds(offset.local_minus_utc() as i64);
    Ok(ScalarValue::TimestampMicrosecond(
        Some(utc.and_utc().timestamp_micros()),
        Some("UTC".into()),
    ))
}

/// BigQuery's TIMESTAMP (a UTC instant, kept here as UTC wall time) as the
/// wall time in `zone`: what `DATE(ts, zone)`, `DATETIME(ts, zone)` and
/// `EXTRACT(... FROM ts AT TIME ZONE zone)` read.
fn bq_to_zone(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let (Some(t), Some(zone)) = (datetime(&args[0])?, text(&args[1])) else {
        return Ok(ScalarValue::TimestampMicrosecond(None, None));
    };
    let offset = offset_at_instant(parse_zone(zone)?, t);
    Ok(to_timestamp_value(
        t + Duration::seconds(offset.local_minus_utc() as i64),
    ))
}

/// Wall time in `zone` as BigQuery's TIMESTAMP (UTC): `TIMESTAMP(x, zone)`.
/// A wall time a DST change skips takes the offset before it; one it
/// repeats, the first.
fn bq_from_zone(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let (Some(t), Some(zone)) = (datetime(&args[0])?, text(&args[1])) else {
        return Ok(ScalarValue::TimestampMicrosecond(None, None));
    };
    let offset = offset_at_wall_time(parse_zone(zone)?, t);
    Ok(to_timestamp_value(
        t - Duration::seconds(offset.local_minus_utc() as i64),
    ))
}

/// `CAST(x AS INT64)` as BigQuery computes it: a FLOAT64 or NUMERIC rounds
/// to the nearest integer, halves away from zero (DataFusion truncates);
/// text must be an integer; out of range is an error (NULL for SAFE_CAST).
fn bq_int64(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let safe = matches!(args[1], ScalarValue::Boolean(Some(true)));
    let fail = |message: String| {
        if safe {
            Ok(ScalarValue::Int64(None))
        } else {
            Err(message)
        }
    };
    let from_float = |f: f64| {
        let r = f.round();
        if r.is_finite() && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&r) {
            Ok(ScalarValue::Int64(Some(r as i64)))
        } else {
            fail(format!("{f} is out of range for INT64"))
        }
    };
    match &args[0] {
        v if v.is_null() => Ok(ScalarValue::Int64(None)),
        ScalarValue::Float64(Some(f)) => from_float(*f),
        ScalarValue::Float32(Some(f)) => from_float(f64::from(*f)),
        ScalarValue::Float16(Some(f)) => from_float(f64::from(f32::from(*f))),
        ScalarValue::Decimal128(Some(v), _, scale) => {
            let div = 10i128
                .checked_pow(u32::try_from(*scale).unwrap_or(0))
                .unwrap_or(1);
            let (mut q, rem) = (v / div, v % div);
            if rem.abs() * 2 >= div {
                q += v.signum();
            }
            match i64::try_from(q) {
                Ok(n) => Ok(ScalarValue::Int64(Some(n))),
                Err(_) => fail(format!("{q} is out of range for INT64")),
            }
        }
        ScalarValue::Boolean(Some(b)) => Ok(ScalarValue::Int64(Some(i64::from(*b)))),
        ScalarValue::UInt64(Some(n)) => match i64::try_from(*n) {
            Ok(n) => Ok(ScalarValue::Int64(Some(n))),
            Err(_) => fail(format!("{n} is out of range for INT64")),
        },
        other => match (int(other), text(other)) {
            (Some(n), _) => Ok(ScalarValue::Int64(Some(n))),
            (None, Some(s)) => {
                let t = s.trim();
                let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                    Some(hex) => i64::from_str_radix(hex, 16).ok(),
                    None => t.parse::<i64>().ok(),
                };
                match parsed {
                    Some(n) => Ok(ScalarValue::Int64(Some(n))),
                    None => fail(format!("Bad int64 value: {s}")),
                }
            }
            (None, None) => fail(format!("cannot cast {other} to INT64")),
        },
    }
}

type Zone = Result<chrono_tz::Tz, chrono::FixedOffset>;

/// The zone's offset at the UTC instant `t`.
fn offset_at_instant(zone: Zone, t: NaiveDateTime) -> chrono::FixedOffset {
    use chrono::{Offset, TimeZone};
    match zone {
        Ok(tz) => tz.offset_from_utc_datetime(&t).fix(),
        Err(fixed) => fixed,
    }
}

/// The zone's offset at the wall time `t`: a wall time a DST change repeats
/// takes its first offset; one it skips, the offset just before it.
fn offset_at_wall_time(zone: Zone, t: NaiveDateTime) -> chrono::FixedOffset {
    use chrono::{Offset, TimeZone};
    match zone {
        Ok(tz) => match tz.offset_from_local_datetime(&t) {
            chrono::LocalResult::Single(o) => o.fix(),
            chrono::LocalResult::Ambiguous(a, _) => a.fix(),
            chrono::LocalResult::None => {
                tz.offset_from_utc_datetime(&(t - Duration::hours(1))).fix()
            }
        },
        Err(fixed) => fixed,
    }
}

/// An IANA zone name, `UTC`, or a fixed offset such as `+02:00`.
fn parse_zone(name: &str) -> Result<Zone, String> {
    let n = name.trim();
    if n.eq_ignore_ascii_case("utc") || n.eq_ignore_ascii_case("z") || n.eq_ignore_ascii_case("gmt")
    {
        return Ok(Ok(chrono_tz::UTC));
    }
    if let Ok(tz) = n.parse::<chrono_tz::Tz>() {
        return Ok(Ok(tz));
    }
    if let Some(tz) = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(n))
    {
        return Ok(Ok(*tz));
    }
    let digits = n.trim_start_matches(['+', '-']);
    let (h, m) = digits.split_once(':').unwrap_or((digits, "0"));
    if let (Ok(h), Ok(m)) = (h.parse::<i32>(), m.parse::<i32>()) {
        let secs = (h * 3600 + m * 60) * if n.starts_with('-') { -1 } else { 1 };
        if let Some(o) = chrono::FixedOffset::east_opt(secs) {
            return Ok(Err(o));
        }
    }
    Err(format!(
        "unknown time zone `{name}` (use an IANA name such as 'America/New_York')"
    ))
}

/// An interval times a number, part by part (`3 * interval '1 day'`).
fn interval_times(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let Some(n) = number(&args[1]) else {
        return Ok(ScalarValue::Null);
    };
    let v = match &args[0] {
        ScalarValue::IntervalMonthDayNano(Some(v)) => *v,
        ScalarValue::IntervalDayTime(Some(v)) => {
            IntervalMonthDayNano::new(0, v.days, v.milliseconds as i64 * 1_000_000)
        }
        ScalarValue::IntervalYearMonth(Some(m)) => IntervalMonthDayNano::new(*m, 0, 0),
        v if v.is_null() => return Ok(ScalarValue::Null),
        other => return Err(format!("expected an interval, got {other}")),
    };
    let scale = |x: i64, what: &str| -> Result<i64, String> {
        let r = x as f64 * n;
        if r.fract() != 0.0 && what != "nanoseconds" {
            return Err(format!(
                "{x} {what} times {n} is not a whole number of {what}"
            ));
        }
        Ok(r.round() as i64)
    };
    Ok(ScalarValue::IntervalMonthDayNano(Some(
        IntervalMonthDayNano::new(
            scale(v.months as i64, "months")? as i32,
            scale(v.days as i64, "days")? as i32,
            scale(v.nanoseconds, "nanoseconds")?,
        ),
    )))
}

fn number(v: &ScalarValue) -> Option<f64> {
    if v.is_null() {
        return None;
    }
    int(v)
        .map(|i| i as f64)
        .or_else(|| match v.cast_to(&DataType::Float64).ok()? {
            ScalarValue::Float64(f) => f,
            _ => None,
        })
}

/// BigQuery keeps microseconds; so do rdbt's timestamps.
fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

// ---- conversions ----

fn text(v: &ScalarValue) -> Option<&str> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s),
        _ => None,
    }
}

fn int(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::Int8(Some(n)) => Some(i64::from(*n)),
        ScalarValue::Int16(Some(n)) => Some(i64::from(*n)),
        ScalarValue::Int32(Some(n)) => Some(i64::from(*n)),
        ScalarValue::Int64(Some(n)) => Some(*n),
        ScalarValue::UInt8(Some(n)) => Some(i64::from(*n)),
        ScalarValue::UInt16(Some(n)) => Some(i64::from(*n)),
        ScalarValue::UInt32(Some(n)) => Some(i64::from(*n)),
        ScalarValue::UInt64(Some(n)) => i64::try_from(*n).ok(),
        _ => None,
    }
}

fn boolean(v: &ScalarValue) -> bool {
    matches!(v, ScalarValue::Boolean(Some(true)))
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// A date, timestamp or `YYYY-MM-DD[ hh:mm:ss]` text as a date-time;
/// `Ok(None)` for NULL.
fn datetime(v: &ScalarValue) -> Result<Option<NaiveDateTime>, String> {
    let from_micros = |n: i64| chrono::DateTime::from_timestamp_micros(n).map(|t| t.naive_utc());
    let value = match v {
        ScalarValue::Date32(Some(d)) => EPOCH
            .checked_add_signed(Duration::days(i64::from(*d)))
            .map(|d| d.and_time(NaiveTime::MIN)),
        ScalarValue::Date64(Some(ms)) => {
            chrono::DateTime::from_timestamp_millis(*ms).map(|t| t.naive_utc())
        }
        ScalarValue::TimestampSecond(Some(s), _) => {
            chrono::DateTime::from_timestamp(*s, 0).map(|t| t.naive_utc())
        }
        ScalarValue::TimestampMillisecond(Some(n), _) => {
            chrono::DateTime::from_timestamp_millis(*n).map(|t| t.naive_utc())
        }
        ScalarValue::TimestampMicrosecond(Some(n), _) => from_micros(*n),
        ScalarValue::TimestampNanosecond(Some(n), _) => {
            Some(chrono::DateTime::from_timestamp_nanos(*n).naive_utc())
        }
        other => match text(other) {
            Some(s) => Some(parse_datetime_text(s).ok_or_else(|| {
                format!("`{s}` is not a date or timestamp (expected YYYY-MM-DD[ HH:MM:SS])")
            })?),
            None if other.is_null() => None,
            None => {
                return Err(format!(
                    "expected a date or timestamp, got {}",
                    other.data_type()
                ));
            }
        },
    };
    Ok(value)
}

fn parse_datetime_text(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    let s = s
        .strip_suffix(" UTC")
        .or_else(|| s.strip_suffix('Z'))
        .unwrap_or(s);
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t);
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(s, format) {
            return Some(t.naive_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(NaiveTime::MIN))
}

fn to_date_value(d: NaiveDate) -> ScalarValue {
    ScalarValue::Date32(i32::try_from((d - EPOCH).num_days()).ok())
}

fn to_timestamp_value(t: NaiveDateTime) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(Some(t.and_utc().timestamp_micros()), None)
}

fn part(v: &ScalarValue) -> Result<String, String> {
    text(v)
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| "the date part must be a constant word such as MONTH".to_string())
}

// ---- calendar rules ----

fn weekday_named(name: &str) -> Option<Weekday> {
    Some(match name {
        "sunday" => Weekday::Sun,
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        _ => return None,
    })
}

/// The weekday a `week`, `week(<day>)` or `isoweek` part starts on.
fn week_start(part: &str) -> Option<Weekday> {
    match part {
        "week" => Some(Weekday::Sun),
        "isoweek" => Some(Weekday::Mon),
        _ => part
            .strip_prefix("week(")
            .and_then(|p| p.strip_suffix(')'))
            .and_then(weekday_named),
    }
}

fn start_of_week(d: NaiveDate, start: Weekday) -> NaiveDate {
    let back = (7 + d.weekday().num_days_from_monday() - start.num_days_from_monday()) % 7;
    d - Duration::days(i64::from(back))
}

fn truncate_date(d: NaiveDate, part: &str) -> Result<NaiveDate, String> {
    let first_of = |year: i32, month: u32| {
        NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(|| "date out of range".to_string())
    };
    if let Some(start) = week_start(part) {
        return Ok(start_of_week(d, start));
    }
    match part {
        "day" => Ok(d),
        "month" => first_of(d.year(), d.month()),
        "quarter" => first_of(d.year(), (d.month0() / 3) * 3 + 1),
        "year" => first_of(d.year(), 1),
        "isoyear" => NaiveDate::from_isoywd_opt(d.iso_week().year(), 1, Weekday::Mon)
            .ok_or_else(|| "date out of range".to_string()),
        other => Err(format!(
            "unknown date part `{other}` (use DAY, WEEK, WEEK(<weekday>), ISOWEEK, MONTH, QUARTER, YEAR or ISOYEAR)"
        )),
    }
}

fn add_months(d: NaiveDate, months: i64) -> Result<NaiveDate, String> {
    let months32 = u32::try_from(months.unsigned_abs()).map_err(|_| "interval out of range")?;
    let shifted = if months >= 0 {
        d.checked_add_months(chrono::Months::new(months32))
    } else {
        d.checked_sub_months(chrono::Months::new(months32))
    };
    shifted.ok_or_else(|| "date out of range".to_string())
}

fn add_to_date(d: NaiveDate, n: i64, part: &str) -> Result<NaiveDate, String> {
    match part {
        "day" => d
            .checked_add_signed(Duration::days(n))
            .ok_or_else(|| "date out of range".into()),
        "week" => d
            .checked_add_signed(Duration::days(n.saturating_mul(7)))
            .ok_or_else(|| "date out of range".into()),
        "month" => add_months(d, n),
        "quarter" => add_months(d, n.saturating_mul(3)),
        "year" => add_months(d, n.saturating_mul(12)),
        other => Err(format!(
            "cannot add `{other}` to a date (use DAY, WEEK, MONTH, QUARTER or YEAR)"
        )),
    }
}

fn date_boundaries_between(a: NaiveDate, b: NaiveDate, part: &str) -> Result<i64, String> {
    let months = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
    if let Some(start) = week_start(part) {
        return Ok((start_of_week(a, start) - start_of_week(b, start)).num_days() / 7);
    }
    match part {
        "day" => Ok((a - b).num_days()),
        "month" => Ok(months(a) - months(b)),
        "quarter" => Ok(months(a).div_euclid(3) - months(b).div_euclid(3)),
        "year" => Ok(i64::from(a.year()) - i64::from(b.year())),
        "isoyear" => Ok(i64::from(a.iso_week().year()) - i64::from(b.iso_week().year())),
        other => Err(format!("unknown date part `{other}`")),
    }
}

fn time_unit_micros(part: &str) -> Option<i64> {
    Some(match part {
        "microsecond" => 1,
        "millisecond" => 1_000,
        "second" => 1_000_000,
        "minute" => 60_000_000,
        "hour" => 3_600_000_000,
        "day" => 86_400_000_000,
        _ => return None,
    })
}

// ---- the functions ----

fn extract(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let part = part(&args[0])?;
    let Some(t) = datetime(&args[1])? else {
        return Ok(ScalarValue::Null);
    };
    let d = t.date();
    let week_number = |start: Weekday| {
        let first = NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d);
        // Days before the year's first `start` day are in week 0.
        let first_start = start_of_week(first + Duration::days(6), start);
        if d < first_start {
            0
        } else {
            (d - first_start).num_days() / 7 + 1
        }
    };
    let n: i64 = match part.as_str() {
        "year" => i64::from(d.year()),
        "quarter" => i64::from(d.month0() / 3 + 1),
        "month" => i64::from(d.month()),
        "day" => i64::from(d.day()),
        "dayofweek" => i64::from(d.weekday().num_days_from_sunday() + 1),
        "dayofyear" => i64::from(d.ordinal()),
        "isoweek" => i64::from(d.iso_week().week()),
        "isoyear" => i64::from(d.iso_week().year()),
        "hour" => i64::from(t.hour()),
        "minute" => i64::from(t.minute()),
        "second" => i64::from(t.second()),
        "millisecond" => i64::from(t.nanosecond() / 1_000_000),
        "microsecond" => i64::from(t.nanosecond() / 1_000),
        p => match week_start(p) {
            Some(start) => week_number(start),
            None => return Err(format!("cannot extract `{p}`")),
        },
    };
    Ok(ScalarValue::Int64(Some(n)))
}

fn date(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    match datetime(&args[0]) {
        Ok(Some(t)) => Ok(to_date_value(t.date())),
        Ok(None) => Ok(ScalarValue::Null),
        Err(_) if boolean(&args[1]) => Ok(ScalarValue::Null),
        Err(e) => Err(e),
    }
}

fn timestamp(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    match datetime(&args[0]) {
        Ok(Some(t)) => Ok(to_timestamp_value(t)),
        Ok(None) => Ok(ScalarValue::Null),
        Err(_) if boolean(&args[1]) => Ok(ScalarValue::Null),
        Err(e) => Err(e),
    }
}

fn date_trunc(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let Some(t) = datetime(&args[0])? else {
        return Ok(ScalarValue::Null);
    };
    Ok(to_date_value(truncate_date(t.date(), &part(&args[1])?)?))
}

fn timestamp_trunc(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let Some(t) = datetime(&args[0])? else {
        return Ok(ScalarValue::Null);
    };
    let part = part(&args[1])?;
    let truncated = match time_unit_micros(&part) {
        Some(unit) if part != "day" => {
            let micros = t.and_utc().timestamp_micros();
            let floored = micros - micros.rem_euclid(unit);
            chrono::DateTime::from_timestamp_micros(floored)
                .map(|x| x.naive_utc())
                .ok_or("timestamp out of range")?
        }
        _ => truncate_date(t.date(), &part)?.and_time(NaiveTime::MIN),
    };
    Ok(to_timestamp_value(truncated))
}

/// `date_trunc(part, value)`: a date stays a date, anything else is a
/// timestamp.
/// DuckDB's weeks start on Monday (ISO), unlike BigQuery's `WEEK`.
fn duckdb_date_trunc(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let is_date = matches!(args[1], ScalarValue::Date32(_) | ScalarValue::Date64(_));
    let part = match part(&args[0])?.as_str() {
        "week" | "weeks" | "w" => "isoweek".to_string(),
        "days" | "d" => "day".to_string(),
        "months" | "mon" => "month".to_string(),
        "years" | "y" => "year".to_string(),
        "quarters" => "quarter".to_string(),
        other => other.to_string(),
    };
    let swapped = [args[1].clone(), ScalarValue::Utf8(Some(part))];
    if is_date {
        date_trunc(&swapped)
    } else {
        timestamp_trunc(&swapped)
    }
}

fn date_add(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let (Some(t), Some(n)) = (datetime(&args[0])?, int(&args[1])) else {
        return Ok(ScalarValue::Null);
    };
    Ok(to_date_value(add_to_date(t.date(), n, &part(&args[2])?)?))
}

fn timestamp_add(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let (Some(t), Some(n)) = (datetime(&args[0])?, int(&args[1])) else {
        return Ok(ScalarValue::Null);
    };
    let part = part(&args[2])?;
    let shifted = match time_unit_micros(&part) {
        Some(unit) => t
            .checked_add_signed(Duration::microseconds(n.saturating_mul(unit)))
            .ok_or("timestamp out of range")?,
        None => add_to_date(t.date(), n, &part)?.and_time(t.time()),
    };
    Ok(to_timestamp_value(shifted))
}

fn date_diff(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let (Some(a), Some(b)) = (datetime(&args[0])?, datetime(&args[1])?) else {
        return Ok(ScalarValue::Null);
    };
    Ok(ScalarValue::Int64(Some(date_boundaries_between(
        a.date(),
        b.date(),
        &part(&args[2])?,
    )?)))
}

/// DATETIME_DIFF counts part boundaries crossed.
fn datetime_diff(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let (Some(a), Some(b)) = (datetime(&args[0])?, datetime(&args[1])?) else {
        return Ok(ScalarValue::Null);
    };
    let part = part(&args[2])?;
    let n = match time_unit_micros(&part) {
        Some(unit) if part != "day" => {
            let floor = |t: NaiveDateTime| t.and_utc().timestamp_micros().div_euclid(unit);
            floor(a) - floor(b)
        }
        _ => date_boundaries_between(a.date(), b.date(), &part)?,
    };
    Ok(ScalarValue::Int64(Some(n)))
}

/// TIMESTAMP_DIFF counts whole parts elapsed, truncated toward zero.
fn timestamp_diff(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let (Some(a), Some(b)) = (datetime(&args[0])?, datetime(&args[1])?) else {
        return Ok(ScalarValue::Null);
    };
    let part = part(&args[2])?;
    let unit = time_unit_micros(&part)
        .ok_or_else(|| format!("TIMESTAMP_DIFF takes MICROSECOND to DAY, not `{part}`"))?;
    let micros = (a - b).num_microseconds().ok_or("interval out of range")?;
    Ok(ScalarValue::Int64(Some(micros / unit)))
}

fn last_day(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let Some(t) = datetime(&args[0])? else {
        return Ok(ScalarValue::Null);
    };
    let part = part(&args[1])?;
    let d = t.date();
    let last = match part.as_str() {
        "month" | "quarter" | "year" => {
            let months = match part.as_str() {
                "month" => 1,
                "quarter" => 3,
                _ => 12,
            };
            add_months(truncate_date(d, &part)?, months)? - Duration::days(1)
        }
        p if week_start(p).is_some() => truncate_date(d, p)? + Duration::days(6),
        other => {
            return Err(format!(
                "LAST_DAY takes MONTH, QUARTER, YEAR, WEEK or ISOWEEK, not `{other}`"
            ));
        }
    };
    Ok(to_date_value(last))
}

/// BigQuery's format elements are strftime's plus a few of its own.
fn bigquery_format(format: &str, t: NaiveDateTime) -> Result<String, String> {
    let quarter = (t.month0() / 3 + 1).to_string();
    let adapted = format
        .replace("%Q", &quarter)
        .replace("%E4Y", "%Y")
        .replace("%E*S", "%S%.6f")
        .replace("%Ez", "+00:00")
        .replace("%Z", "UTC")
        .replace("%z", "+0000");
    let items: Vec<chrono::format::Item> = chrono::format::StrftimeItems::new(&adapted).collect();
    if items
        .iter()
        .any(|i| matches!(i, chrono::format::Item::Error))
    {
        return Err(format!("invalid format string `{format}`"));
    }
    Ok(t.format_with_items(items.into_iter()).to_string())
}

fn format_date(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let Some(format) = text(&args[0]) else {
        return Ok(ScalarValue::Null);
    };
    let Some(t) = datetime(&args[1])? else {
        return Ok(ScalarValue::Null);
    };
    Ok(ScalarValue::Utf8(Some(bigquery_format(format, t)?)))
}

fn parse_with(format: &str, s: &str) -> Option<NaiveDateTime> {
    let format = format.replace("%E4Y", "%Y");
    NaiveDateTime::parse_from_str(s, &format).ok().or_else(|| {
        NaiveDate::parse_from_str(s, &format)
            .ok()
            .map(|d| d.and_time(NaiveTime::MIN))
    })
}

fn parse_date(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let (Some(format), Some(s)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Null);
    };
    match parse_with(format, s) {
        Some(t) => Ok(to_date_value(t.date())),
        None if boolean(&args[2]) => Ok(ScalarValue::Null),
        None => Err(format!("cannot parse `{s}` with format `{format}`")),
    }
}

fn parse_timestamp(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let (Some(format), Some(s)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Null);
    };
    match parse_with(format, s) {
        Some(t) => Ok(to_timestamp_value(t)),
        None if boolean(&args[2]) => Ok(ScalarValue::Null),
        None => Err(format!("cannot parse `{s}` with format `{format}`")),
    }
}

/// Arrays longer than this are a mistake in the step, not a calendar.
const MAX_DATE_ARRAY: usize = 1_000_000;

fn generate_date_array(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let (Some(start), Some(end), Some(step)) =
        (datetime(&args[0])?, datetime(&args[1])?, int(&args[2]))
    else {
        return Ok(ScalarValue::Null);
    };
    if step == 0 {
        return Err("the step must not be zero".into());
    }
    let part = part(&args[3])?;
    let (start, end) = (start.date(), end.date());
    let mut values = Vec::new();
    let mut k = 0i64;
    loop {
        let d = add_to_date(start, step.saturating_mul(k), &part)?;
        if (step > 0 && d > end) || (step < 0 && d < end) {
            break;
        }
        values.push(to_date_value(d));
        if values.len() > MAX_DATE_ARRAY {
            return Err(format!(
                "more than {MAX_DATE_ARRAY} dates; check the bounds and step"
            ));
        }
        k += 1;
    }
    Ok(ScalarValue::List(ScalarValue::new_list(
        &values,
        &DataType::Date32,
        true,
    )))
}

/// `$.a.b[0]`, `$['a']`, `$."a"` → the value there.
fn json_at<'a>(
    root: &'a serde_json::Value,
    path: &str,
) -> Result<Option<&'a serde_json::Value>, String> {
    let rest = path
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| format!("JSON path `{path}` must start with $"))?;
    let mut current = root;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        let key = match c {
            '.' => {
                let mut key = String::new();
                if chars.peek() == Some(&'"') {
                    chars.next();
                    for ch in chars.by_ref() {
                        if ch == '"' {
                            break;
                        }
                        key.push(ch);
                    }
                } else {
                    while let Some(&ch) = chars.peek() {
                        if ch == '.' || ch == '[' {
                            break;
                        }
                        key.push(ch);
                        chars.next();
                    }
                }
                key
            }
            '[' => {
                let mut inside = String::new();
                for ch in chars.by_ref() {
                    if ch == ']' {
                        break;
                    }
                    inside.push(ch);
                }
                let inside = inside.trim();
                if let Ok(index) = inside.parse::<usize>() {
                    match current.get(index) {
                        Some(v) => {
                            current = v;
                            continue;
                        }
                        None => return Ok(None),
                    }
                }
                inside.trim_matches(|q| q == '\'' || q == '"').to_string()
            }
            other => return Err(format!("unexpected `{other}` in JSON path `{path}`")),
        };
        match current.get(&key) {
            Some(v) => current = v,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

fn json_args(args: &[ScalarValue]) -> Result<Option<(serde_json::Value, String)>, String> {
    let (Some(doc), Some(path)) = (text(&args[0]), text(&args[1])) else {
        return Ok(None);
    };
    // Invalid JSON is an error in BigQuery's JSON_VALUE on STRING.
    let value: serde_json::Value =
        serde_json::from_str(doc).map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(Some((value, path.to_string())))
}

fn json_value(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let Some((doc, path)) = json_args(args)? else {
        return Ok(ScalarValue::Null);
    };
    Ok(ScalarValue::Utf8(match json_at(&doc, &path)? {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }))
}

fn json_query(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let Some((doc, path)) = json_args(args)? else {
        return Ok(ScalarValue::Null);
    };
    Ok(ScalarValue::Utf8(match json_at(&doc, &path)? {
        Some(serde_json::Value::Null) | None => None,
        Some(v) => Some(v.to_string()),
    }))
}

fn regexp_extract(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let (Some(s), Some(pattern)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Null);
    };
    let re = regex::Regex::new(pattern).map_err(|e| format!("invalid regular expression: {e}"))?;
    if re.captures_len() > 2 {
        return Err("the regular expression may have at most one capturing group".into());
    }
    Ok(ScalarValue::Utf8(re.captures(s).and_then(|c| {
        c.get(if c.len() > 1 { 1 } else { 0 })
            .map(|m| m.as_str().to_string())
    })))
}

/// DuckDB's `regexp_extract(s, pattern[, group])`: the group (0: the whole
/// match) of the first match, or '' when nothing matches.
fn duckdb_regexp_extract(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let (Some(s), Some(pattern)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Null);
    };
    let group = match args.get(2) {
        Some(g) => int(g).ok_or("the group must be an integer")?,
        None => 0,
    };
    let re = regex::Regex::new(pattern).map_err(|e| format!("invalid regular expression: {e}"))?;
    let group = usize::try_from(group).map_err(|_| "the group must not be negative".to_string())?;
    if group >= re.captures_len() {
        return Err(format!("the pattern has no group {group}"));
    }
    Ok(ScalarValue::Utf8(Some(
        re.captures(s)
            .and_then(|c| c.get(group).map(|m| m.as_str().to_string()))
            .unwrap_or_default(),
    )))
}

/// DuckDB's `typeof`: the name DuckDB gives the argument's type.
fn duckdb_typeof(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    Ok(ScalarValue::Utf8(Some(duckdb_type_name(
        &args[0].data_type(),
    ))))
}

/// A type's name as DuckDB writes it (`INTEGER`, `DECIMAL(18,3)`,
/// `VARCHAR[]`, `STRUCT(a INTEGER)`).
pub fn duckdb_type_name(t: &DataType) -> String {
    use DataType as D;
    match t {
        D::Null => "\"NULL\"".into(),
        D::Int8 => "TINYINT".into(),
        D::Int16 => "SMALLINT".into(),
        D::Int32 => "INTEGER".into(),
        D::Int64 => "BIGINT".into(),
        D::UInt8 => "UTINYINT".into(),
        D::UInt16 => "USMALLINT".into(),
        D::UInt32 => "UINTEGER".into(),
        D::UInt64 => "UBIGINT".into(),
        D::Float16 | D::Float32 => "FLOAT".into(),
        D::Float64 => "DOUBLE".into(),
        D::Utf8 | D::LargeUtf8 | D::Utf8View => "VARCHAR".into(),
        D::Boolean => "BOOLEAN".into(),
        D::Date32 | D::Date64 => "DATE".into(),
        D::Time32(_) | D::Time64(_) => "TIME".into(),
        D::Timestamp(_, None) => "TIMESTAMP".into(),
        D::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        D::Interval(_) | D::Duration(_) => "INTERVAL".into(),
        D::Decimal128(p, s) | D::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => "BLOB".into(),
        D::List(f) | D::LargeList(f) | D::ListView(f) | D::LargeListView(f) => {
            format!("{}[]", duckdb_type_name(f.data_type()))
        }
        D::FixedSizeList(f, n) => format!("{}[{n}]", duckdb_type_name(f.data_type())),
        D::Struct(fields) => format!(
            "STRUCT({})",
            fields
                .iter()
                .map(|f| format!("{} {}", f.name(), duckdb_type_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        D::Map(f, _) => match f.data_type() {
            D::Struct(kv) if kv.len() == 2 => format!(
                "MAP({}, {})",
                duckdb_type_name(kv[0].data_type()),
                duckdb_type_name(kv[1].data_type())
            ),
            _ => "MAP".into(),
        },
        D::Dictionary(_, v) => duckdb_type_name(v),
        other => other.to_string().to_uppercase(),
    }
}

/// DuckDB's `epoch_ms`: milliseconds since the epoch of a timestamp, or the
/// timestamp of a number of milliseconds.
fn duckdb_epoch_ms(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    if let Some(ms) = int(&args[0]) {
        let t = chrono::DateTime::from_timestamp_millis(ms).ok_or("epoch_ms out of range")?;
        return Ok(to_timestamp_value(t.naive_utc()));
    }
    Ok(match datetime(&args[0])? {
        Some(t) => ScalarValue::Int64(Some(t.and_utc().timestamp_millis())),
        None => ScalarValue::Null,
    })
}

/// FORMAT with `%d`, `%i`, `%s`, `%f`, `%.Nf`, `%t`, `%%`.
fn format(args: &[ScalarValue]) -> Result<ScalarValue, String> {
    let Some(pattern) = args.first().and_then(text) else {
        return Ok(ScalarValue::Null);
    };
    let mut out = String::new();
    let mut values = args[1..].iter();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&ch) = chars.peek() {
            spec.push(ch);
            chars.next();
            if ch.is_ascii_alphabetic() || ch == '%' {
                break;
            }
        }
        if spec == "%" {
            out.push('%');
            continue;
        }
        let value = values
            .next()
            .ok_or_else(|| format!("FORMAT `{pattern}` has more specifiers than values"))?;
        if value.is_null() {
            out.push_str("NULL");
            continue;
        }
        let kind = spec.chars().last().unwrap_or('s');
        let precision = spec
            .strip_prefix('.')
            .and_then(|p| p[..p.len().saturating_sub(1)].parse::<usize>().ok());
        match kind {
            'd' | 'i' => {
                out.push_str(&int(value).map_or_else(|| value.to_string(), |n| n.to_string()))
            }
            'f' => {
                let n: f64 = value
                    .to_string()
                    .parse()
                    .map_err(|_| format!("`{value}` is not a number"))?;
                out.push_str(&format!("{n:.*}", precision.unwrap_or(6)));
            }
            's' | 't' => out.push_str(
                text(value)
                    .map_or_else(|| value.to_string(), str::to_string)
                    .as_str(),
            ),
            other => return Err(format!("FORMAT does not support %{other} here")),
        }
    }
    Ok(ScalarValue::Utf8(Some(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn week_parts_start_where_bigquery_says() {
        // 2008-12-25 is a Thursday.
        assert_eq!(truncate_date(d("2008-12-25"), "week"), Ok(d("2008-12-21")));
        assert_eq!(
            truncate_date(d("2008-12-25"), "isoweek"),
            Ok(d("2008-12-22"))
        );
        assert_eq!(
            truncate_date(d("2008-12-25"), "week(friday)"),
            Ok(d("2008-12-19"))
        );
        assert_eq!(
            truncate_date(d("2015-06-15"), "isoyear"),
            Ok(d("2014-12-29"))
        );
    }

    #[test]
    fn date_diff_counts_boundaries() {
        assert_eq!(
            date_boundaries_between(d("2017-10-15"), d("2017-10-14"), "week"),
            Ok(1)
        );
        assert_eq!(
            date_boundaries_between(d("2017-12-30"), d("2014-12-30"), "year"),
            Ok(3)
        );
        assert_eq!(
            date_boundaries_between(d("2017-12-18"), d("2017-12-17"), "isoweek"),
            Ok(1)
        );
    }
}
