//! One message → typed values, or the reason it cannot land. The rules are
//! the contract's (retention.md §1.1), driven by the declared schema: JSON by
//! RFC 8259, a top-level object, required fields present and not null, every
//! present field of its column's JSON type (integers only for integer
//! columns), accepted values, RFC 3339 UTC timestamps. Unknown fields are
//! ignored; an absent or null optional field lands as NULL.

use super::schema::{LandSchema, ValueKind};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Why a message went to the quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectCode {
    InvalidJson,
    NotAnObject,
    MissingField,
    NullField,
    WrongType,
    UnknownValue,
    BadTimestamp,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::InvalidJson => "invalid_json",
            RejectCode::NotAnObject => "not_an_object",
            RejectCode::MissingField => "missing_field",
            RejectCode::NullField => "null_field",
            RejectCode::WrongType => "wrong_type",
            RejectCode::UnknownValue => "unknown_value",
            RejectCode::BadTimestamp => "bad_timestamp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: RejectCode,
    /// For people: which field and what was wrong.
    pub detail: String,
}

impl Rejection {
    fn new(code: RejectCode, detail: impl Into<String>) -> Self {
        Rejection {
            code,
            detail: detail.into(),
        }
    }
}

/// A JSON value as far as a column needs to know it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Absent,
    Null,
    Bool(bool),
    Int(i64),
    /// An integer above i64::MAX.
    BigInt,
    Float(f64),
    Str(Cow<'a, str>),
    Array,
    Object,
}

impl Scalar<'_> {
    fn json_name(&self) -> &'static str {
        match self {
            Scalar::Absent => "nothing",
            Scalar::Null => "null",
            Scalar::Bool(_) => "a boolean",
            Scalar::Int(_) | Scalar::BigInt => "an integer",
            Scalar::Float(_) => "a non-integer number",
            Scalar::Str(_) => "a string",
            Scalar::Array => "an array",
            Scalar::Object => "an object",
        }
    }
}

/// A validated value, ready for its column's builder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Typed<'a> {
    Null,
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Decimal(i128),
    Bool(bool),
    /// Microseconds since the epoch, UTC.
    Micros(i64),
    /// Days since the epoch.
    Days(i32),
}

/// Reusable per-thread buffers for decoding.
#[derive(Debug, Default)]
pub(crate) struct Decoder<'a> {
    pub slots: Vec<Scalar<'a>>,
}

impl<'a> Decoder<'a> {
    /// Decodes and validates `payload` into `typed` (one entry per column;
    /// stream columns are left `Null` for the caller to fill).
    pub fn decode(
        &mut self,
        schema: &LandSchema,
        payload: &'a [u8],
        typed: &mut Vec<Typed<'a>>,
    ) -> Result<(), Rejection> {
        self.slots.clear();
        self.slots.resize(schema.columns.len(), Scalar::Absent);
        let mut de = serde_json::Deserializer::from_slice(payload);
        let is_object = TopLevel {
            schema,
            slots: &mut self.slots,
        }
        .deserialize(&mut de)
        .map_err(|e| Rejection::new(RejectCode::InvalidJson, e.to_string()))?;
        de.end()
            .map_err(|e| Rejection::new(RejectCode::InvalidJson, e.to_string()))?;
        if !is_object {
            return Err(Rejection::new(
                RejectCode::NotAnObject,
                "the message is JSON but not an object",
            ));
        }
        for (column, slot) in schema.columns.iter().zip(&self.slots) {
            if column.required {
                match slot {
                    Scalar::Absent => {
                        return Err(Rejection::new(
                            RejectCode::MissingField,
                            format!("required field `{}` is missing", column.name),
                        ));
                    }
                    Scalar::Null => {
                        return Err(Rejection::new(
                            RejectCode::NullField,
                            format!("required field `{}` is null", column.name),
                        ));
                    }
                    _ => {}
                }
            }
        }
        typed.clear();
        for (column, slot) in schema.columns.iter().zip(self.slots.drain(..)) {
            let value = convert(column.kind, slot).map_err(|r| Rejection {
                code: r.code,
                detail: format!("field `{}`: {}", column.name, r.detail),
            })?;
            if let (Some(accepted), Typed::Str(s)) = (&column.accepted, &value)
                && !accepted.iter().any(|a| a == s.as_ref())
            {
                return Err(Rejection::new(
                    RejectCode::UnknownValue,
                    format!(
                        "field `{}`: `{s}` is not one of {}",
                        column.name,
                        accepted.join(", ")
                    ),
                ));
            }
            typed.push(value);
        }
        Ok(())
    }
}

fn wrong_type(kind: ValueKind, got: &Scalar) -> Rejection {
    Rejection::new(
        RejectCode::WrongType,
        format!("expected {}, got {}", kind.json_name(), got.json_name()),
    )
}

fn convert(kind: ValueKind, slot: Scalar<'_>) -> Result<Typed<'_>, Rejection> {
    if matches!(slot, Scalar::Absent | Scalar::Null) {
        return Ok(Typed::Null);
    }
    Ok(match (kind, slot) {
        (ValueKind::String, Scalar::Str(s)) => Typed::Str(s),
        (ValueKind::Int64, Scalar::Int(i)) => Typed::Int(i),
        (ValueKind::Int64, Scalar::BigInt) => {
            return Err(Rejection::new(
                RejectCode::WrongType,
                "integer out of the 64-bit range",
            ));
        }
        (ValueKind::Float64, Scalar::Int(i)) => Typed::Float(i as f64),
        (ValueKind::Float64, Scalar::Float(f)) => Typed::Float(f),
        (ValueKind::Decimal { precision, scale }, Scalar::Int(i)) => {
            Typed::Decimal(decimal_from_text(&i.to_string(), precision, scale)?)
        }
        (ValueKind::Decimal { precision, scale }, Scalar::Float(f)) => {
            // Display prints the shortest text that reads back as `f`, which
            // is the number as it was written for any value of up to 15
            // significant digits: money stays exact.
            Typed::Decimal(decimal_from_text(&f.to_string(), precision, scale)?)
        }
        (ValueKind::Bool, Scalar::Bool(b)) => Typed::Bool(b),
        (ValueKind::Timestamp, Scalar::Str(s)) => Typed::Micros(parse_utc_timestamp(&s)?),
        (ValueKind::Date, Scalar::Str(s)) => Typed::Days(parse_date(&s)?),
        (kind, other) => return Err(wrong_type(kind, &other)),
    })
}

/// `123.45` at `scale` 2 → 12345; more decimals than `scale` are rounded
/// half away from zero; too many digits for `precision` is an error.
fn decimal_from_text(text: &str, precision: u8, scale: i8) -> Result<i128, Rejection> {
    let out_of_range = || {
        Rejection::new(
            RejectCode::WrongType,
            format!("{text} does not fit NUMERIC({precision}, {scale})"),
        )
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let scale = scale.max(0) as usize;
    let mut value: i128 = 0;
    for c in whole
        .bytes()
        .chain(frac.bytes().chain(std::iter::repeat(b'0')).take(scale))
    {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(c.wrapping_sub(b'0'))))
            .ok_or_else(out_of_range)?;
    }
    if frac.as_bytes().get(scale).is_some_and(|d| *d >= b'5') {
        value += 1;
    }
    if value >= 10i128.pow(u32::from(precision)) {
        return Err(out_of_range());
    }
    Ok(if negative { -value } else { value })
}

fn bad_timestamp(text: &str, why: &str) -> Rejection {
    Rejection::new(
        RejectCode::BadTimestamp,
        format!("`{text}` is not an RFC 3339 UTC timestamp ({why})"),
    )
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)`: RFC 3339 with a UTC offset
/// (RFC 3339 allows lower-case `t` and `z`). Returns microseconds since the
/// epoch; digits past microseconds are dropped.
pub(crate) fn parse_utc_timestamp(text: &str) -> Result<i64, Rejection> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(bad_timestamp(text, "too short"));
    }
    let date_days = parse_date_bytes(&b[..10]).ok_or_else(|| bad_timestamp(text, "bad date"))?;
    if !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return Err(bad_timestamp(text, "expected THH:MM:SS"));
    }
    let (Some(h), Some(m), Some(s)) = (digits(&b[11..13]), digits(&b[14..16]), digits(&b[17..19]))
    else {
        return Err(bad_timestamp(text, "bad time"));
    };
    if h > 23 || m > 59 || s > 59 {
        return Err(bad_timestamp(text, "time out of range"));
    }
    let mut i = 19;
    let mut micros: i64 = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return Err(bad_timestamp(text, "empty fraction"));
        }
        for _ in (i - start)..6 {
            micros *= 10;
        }
    }
    match &b[i..] {
        b"Z" | b"z" | b"+00:00" => {}
        [b'+' | b'-', ..] => return Err(bad_timestamp(text, "the offset is not UTC")),
        _ => return Err(bad_timestamp(text, "expected Z or +00:00")),
    }
    let seconds = i64::from(date_days) * 86_400 + i64::from(h * 3600 + m * 60 + s);
    Ok(seconds * 1_000_000 + micros)
}

fn parse_date_bytes(b: &[u8]) -> Option<i32> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(
        digits(&b[0..4])? as i32,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )?;
    Some((date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days() as i32)
}

fn parse_date(text: &str) -> Result<i32, Rejection> {
    parse_date_bytes(text.as_bytes()).ok_or_else(|| {
        Rejection::new(
            RejectCode::WrongType,
            format!("`{text}` is not a YYYY-MM-DD date"),
        )
    })
}

/// The top level: an object fills the slots; anything else is parsed to
/// the end (so invalid JSON is still reported as such) and returns false.
struct TopLevel<'s, 'a> {
    schema: &'s LandSchema,
    slots: &'s mut [Scalar<'a>],
}

impl<'de, 's> DeserializeSeed<'de> for TopLevel<'s, 'de> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 's> Visitor<'de> for TopLevel<'s, 'de> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<bool, M::Error> {
        while let Some(column) = map.next_key_seed(FieldKey(self.schema))? {
            match column {
                Some(i) => self.slots[i] = map.next_value_seed(ScalarSeed)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(true)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<bool, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// A key, looked up without allocating: the column it fills, if any.
struct FieldKey<'s>(&'s LandSchema);

impl<'de> DeserializeSeed<'de> for FieldKey<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldKey<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.column_of(key))
    }
}

struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Scalar<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(i64::try_from(v).map_or(Scalar::BigInt, Scalar::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Scalar<'de>, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Scalar<'de>, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::schema::DeclaredColumn;

    fn schema() -> LandSchema {
        let cols = [
            ("event_id", "STRING"),
            ("event_type", "STRING"),
            ("event_ts", "TIMESTAMP"),
            ("customer_id", "INT64"),
            ("order_amount", "NUMERIC"),
            ("festival", "BOOL"),
            ("_offset", "INT64"),
        ];
        LandSchema::new(
            &cols
                .iter()
                .map(|(n, t)| DeclaredColumn {
                    name: n.to_string(),
                    data_type: Some(t.to_string()),
                })
                .collect::<Vec<_>>(),
            &[
                "event_id".into(),
                "event_type".into(),
                "event_ts".into(),
                "customer_id".into(),
            ],
            &[(
                "event_type".into(),
                vec!["order_placed".into(), "order_delivered".into()],
            )],
            Some("event_ts"),
        )
        .unwrap()
    }

    fn check(line: &str) -> Result<Vec<Typed<'_>>, Rejection> {
        let s = schema();
        let mut d = Decoder::default();
        let mut typed = Vec::new();
        d.decode(&s, line.as_bytes(), &mut typed).map(|()| typed)
    }

    const GOOD: &str = r#"{"event_id":"e1","event_type":"order_placed","event_ts":"2024-03-28T16:22:58.123Z","customer_id":7,"order_amount":12.34,"extra":[1,{"a":2}]}"#;

    #[test]
    fn a_valid_event_lands_typed() {
        let typed = check(GOOD).unwrap();
        assert_eq!(typed[0], Typed::Str("e1".into()));
        assert_eq!(typed[2], Typed::Micros(1_711_642_978_123_000));
        assert_eq!(typed[3], Typed::Int(7));
        assert_eq!(typed[4], Typed::Decimal(12_340_000_000));
        assert_eq!(typed[5], Typed::Null);
    }

    fn code(line: &str) -> RejectCode {
        check(line).unwrap_err().code
    }

    #[test]
    fn every_bad_kind_has_its_reason() {
        use RejectCode::*;
        assert_eq!(code(r#"{"event_id":"e1",}"#), InvalidJson);
        assert_eq!(code(r#"{"event_id":NaN}"#), InvalidJson);
        assert_eq!(code(r#"{'event_id':'e1'}"#), InvalidJson);
        assert_eq!(code("{\"event_id\":\"e\u{1}\"}"), InvalidJson);
        assert_eq!(code(&GOOD.replace('}', "} x")), InvalidJson);
        assert_eq!(code("[1,2]"), NotAnObject);
        assert_eq!(code("\"text\""), NotAnObject);
        assert_eq!(code(&GOOD.replace(r#""customer_id":7,"#, "")), MissingField);
        assert_eq!(
            code(&GOOD.replace(r#""customer_id":7"#, r#""customer_id":null"#)),
            NullField
        );
        assert_eq!(
            code(&GOOD.replace(r#""customer_id":7"#, r#""customer_id":7.0"#)),
            WrongType
        );
        assert_eq!(
            code(&GOOD.replace(r#""customer_id":7"#, r#""customer_id":"7""#)),
            WrongType
        );
        assert_eq!(
            code(&GOOD.replace(r#""order_amount":12.34"#, r#""order_amount":"12.34""#)),
            WrongType
        );
        assert_eq!(
            code(&GOOD.replace("order_placed", "Order_Placed")),
            UnknownValue
        );
        assert_eq!(code(&GOOD.replace(".123Z", "+02:00")), BadTimestamp);
        assert_eq!(
            code(&GOOD.replace("2024-03-28T", "2024-02-30T")),
            BadTimestamp
        );
        assert_eq!(code(&GOOD.replace("T16", " 16")), BadTimestamp);
        assert_eq!(
            code(
                &[0xff_u8, b'{', b'}']
                    .iter()
                    .map(|b| *b as char)
                    .collect::<String>()
            ),
            InvalidJson
        );
    }

    #[test]
    fn utc_offsets_and_fractions() {
        assert_eq!(
            parse_utc_timestamp("1970-01-01T00:00:01+00:00").unwrap(),
            1_000_000
        );
        assert_eq!(
            parse_utc_timestamp("1970-01-01t00:00:00.5z").unwrap(),
            500_000
        );
        assert_eq!(
            parse_utc_timestamp("1970-01-01T00:00:00.1234567Z").unwrap(),
            123_456
        );
        assert!(parse_utc_timestamp("1970-01-01T00:00:00.Z").is_err());
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal_from_text("0.1", 38, 9).unwrap(), 100_000_000);
        assert_eq!(decimal_from_text("-2.5", 10, 0).unwrap(), -3);
        assert_eq!(decimal_from_text("19.999", 10, 2).unwrap(), 2000);
        assert!(decimal_from_text("1000", 3, 0).is_err());
    }
}
