//! PostgreSQL's binary COPY format decoded straight into Arrow builders.
//! One decoder per column, chosen once from the column's type; the row
//! loop does no allocation beyond the builders' own.
//!
//! Format: an 11-byte signature, flags and a header extension; then per
//! row an i16 field count (-1 ends the data) and per field an i32 length
//! (-1 is NULL) and that many bytes, in network byte order.

use super::super::IngestError;
use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use std::sync::Arc;

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days between the two epochs.
const PG_EPOCH_DAYS: i32 = 10_957;

pub const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// How one column's bytes become Arrow values.
#[derive(Debug, Clone, PartialEq)]
pub enum PgKind {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric` landed at this precision and scale.
    Numeric {
        precision: u8,
        scale: i8,
    },
    Text,
    Bool,
    Date,
    /// `timestamp` (no zone) or `timestamptz` (UTC).
    Timestamp {
        utc: bool,
    },
    Uuid,
    /// json is text; jsonb carries a version byte first.
    Json {
        jsonb: bool,
    },
    Bytea,
    /// A one-dimensional array of the element kind.
    Array(Box<PgKind>),
}

impl PgKind {
    /// The kind for a type OID and its type modifier, or `None` when rdbt
    /// cannot land that type.
    pub fn from_oid(oid: u32, typmod: i32) -> Option<PgKind> {
        Some(match oid {
            21 => PgKind::Int2,
            23 => PgKind::Int4,
            20 => PgKind::Int8,
            700 => PgKind::Float4,
            701 => PgKind::Float8,
            1700 => {
                // typmod = ((precision << 16) | scale) + 4; -1 when unconstrained.
                if typmod >= 4 {
                    let m = typmod - 4;
                    let precision = ((m >> 16) & 0xffff) as u8;
                    let scale = (m & 0xffff) as i8;
                    if precision > 38 {
                        return None;
                    }
                    PgKind::Numeric { precision, scale }
                } else {
                    // Unconstrained numeric: BigQuery's NUMERIC shape.
                    PgKind::Numeric {
                        precision: 38,
                        scale: 9,
                    }
                }
            }
            25 | 1043 | 1042 | 19 | 18 | 705 => PgKind::Text,
            16 => PgKind::Bool,
            1082 => PgKind::Date,
            1114 => PgKind::Timestamp { utc: false },
            1184 => PgKind::Timestamp { utc: true },
            2950 => PgKind::Uuid,
            114 => PgKind::Json { jsonb: false },
            3802 => PgKind::Json { jsonb: true },
            17 => PgKind::Bytea,
            1005 => PgKind::Array(Box::new(PgKind::Int2)),
            1007 => PgKind::Array(Box::new(PgKind::Int4)),
            1016 => PgKind::Array(Box::new(PgKind::Int8)),
            1021 => PgKind::Array(Box::new(PgKind::Float4)),
            1022 => PgKind::Array(Box::new(PgKind::Float8)),
            1231 => PgKind::Array(Box::new(PgKind::from_oid(1700, typmod)?)),
            1009 | 1015 | 1014 => PgKind::Array(Box::new(PgKind::Text)),
            1000 => PgKind::Array(Box::new(PgKind::Bool)),
            1182 => PgKind::Array(Box::new(PgKind::Date)),
            1115 => PgKind::Array(Box::new(PgKind::Timestamp { utc: false })),
            1185 => PgKind::Array(Box::new(PgKind::Timestamp { utc: true })),
            2951 => PgKind::Array(Box::new(PgKind::Uuid)),
            199 => PgKind::Array(Box::new(PgKind::Json { jsonb: false })),
            3807 => PgKind::Array(Box::new(PgKind::Json { jsonb: true })),
            1001 => PgKind::Array(Box::new(PgKind::Bytea)),
            _ => return None,
        })
    }

    pub fn arrow_type(&self) -> DataType {
        match self {
            PgKind::Int2 => DataType::Int16,
            PgKind::Int4 => DataType::Int32,
            PgKind::Int8 => DataType::Int64,
            PgKind::Float4 => DataType::Float32,
            PgKind::Float8 => DataType::Float64,
            PgKind::Numeric { precision, scale } => DataType::Decimal128(*precision, *scale),
            PgKind::Text | PgKind::Uuid | PgKind::Json { .. } => DataType::Utf8,
            PgKind::Bool => DataType::Boolean,
            PgKind::Date => DataType::Date32,
            PgKind::Timestamp { utc } => {
                DataType::Timestamp(TimeUnit::Microsecond, utc.then(|| Arc::from("UTC")))
            }
            PgKind::Bytea => DataType::Binary,
            PgKind::Array(inner) => {
                DataType::List(Arc::new(Field::new("item", inner.arrow_type(), true)))
            }
        }
    }

    fn builder(&self, capacity: usize) -> Box<dyn ArrayBuilder> {
        match self {
            PgKind::Int2 => Box::new(Int16Builder::with_capacity(capacity)),
            PgKind::Int4 => Box::new(Int32Builder::with_capacity(capacity)),
            PgKind::Int8 => Box::new(Int64Builder::with_capacity(capacity)),
            PgKind::Float4 => Box::new(Float32Builder::with_capacity(capacity)),
            PgKind::Float8 => Box::new(Float64Builder::with_capacity(capacity)),
            PgKind::Numeric { precision, scale } => Box::new(
                Decimal128Builder::with_capacity(capacity)
                    .with_precision_and_scale(*precision, *scale)
                    .unwrap_or_default(),
            ),
            PgKind::Text | PgKind::Uuid | PgKind::Json { .. } => {
                Box::new(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            PgKind::Bool => Box::new(BooleanBuilder::with_capacity(capacity)),
            PgKind::Date => Box::new(Date32Builder::with_capacity(capacity)),
            PgKind::Timestamp { utc } => {
                let b = TimestampMicrosecondBuilder::with_capacity(capacity);
                Box::new(if *utc { b.with_timezone("UTC") } else { b })
            }
            PgKind::Bytea => Box::new(BinaryBuilder::with_capacity(capacity, capacity * 16)),
            PgKind::Array(inner) => Box::new(
                ListBuilder::new(inner.builder(capacity)).with_field(Arc::new(Field::new(
                    "item",
                    inner.arrow_type(),
                    true,
                ))),
            ),
        }
    }
}

/// Why a value could not be decoded.
fn corrupt(column: &str, what: &str) -> IngestError {
    IngestError::internal(format!(
        "column `{column}`: unexpected binary COPY data ({what})"
    ))
}

fn be_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}
fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be_i64(b: &[u8]) -> i64 {
    i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// A numeric in PostgreSQL's base-10000 form as an integer at `scale`
/// decimals (rounded half away from zero); `None` for NaN and infinities.
pub fn numeric_to_i128(bytes: &[u8], scale: i8) -> Result<Option<i128>, &'static str> {
    if bytes.len() < 8 {
        return Err("numeric header");
    }
    let ndigits = be_i16(&bytes[0..2]) as usize;
    let weight = i32::from(be_i16(&bytes[2..4]));
    let sign = u16::from_be_bytes([bytes[4], bytes[5]]);
    if sign == 0xC000 || sign == 0xD000 || sign == 0xF000 {
        return Ok(None);
    }
    if bytes.len() < 8 + 2 * ndigits {
        return Err("numeric digits");
    }
    let scale = i32::from(scale);
    let mut value: i128 = 0;
    // Digit i is worth 10000^(weight - i); keep 10^scale of fraction.
    let mut round_digit: i128 = 0;
    for i in 0..ndigits {
        let digit = i128::from(be_i16(&bytes[8 + 2 * i..10 + 2 * i]));
        let exp10 = 4 * (weight - i as i32) + scale;
        if exp10 >= 0 {
            value = value
                .checked_add(
                    digit
                        .checked_mul(10i128.checked_pow(exp10 as u32).ok_or("overflow")?)
                        .ok_or("overflow")?,
                )
                .ok_or("overflow")?;
        } else if exp10 > -4 {
            let div = 10i128.pow((-exp10) as u32);
            value += digit / div;
            let rest = digit % div;
            if round_digit == 0 {
                round_digit = rest * 10 / div;
            }
        } else if exp10 == -4 && round_digit == 0 {
            round_digit = digit / 1000;
        }
    }
    if round_digit >= 5 {
        value += 1;
    }
    Ok(Some(if sign == 0x4000 { -value } else { value }))
}

fn uuid_text(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Appends one non-NULL value of `kind` to `builder`.
fn append(
    kind: &PgKind,
    builder: &mut dyn ArrayBuilder,
    value: &[u8],
    column: &str,
) -> Result<(), IngestError> {
    macro_rules! cast {
        ($t:ty) => {
            builder
                .as_any_mut()
                .downcast_mut::<$t>()
                .ok_or_else(|| IngestError::internal("builder type"))?
        };
    }
    let need = |n: usize| {
        if value.len() == n {
            Ok(())
        } else {
            Err(corrupt(column, "value length"))
        }
    };
    match kind {
        PgKind::Int2 => {
            need(2)?;
            cast!(Int16Builder).append_value(be_i16(value));
        }
        PgKind::Int4 => {
            need(4)?;
            cast!(Int32Builder).append_value(be_i32(value));
        }
        PgKind::Int8 => {
            need(8)?;
            cast!(Int64Builder).append_value(be_i64(value));
        }
        PgKind::Float4 => {
            need(4)?;
            cast!(Float32Builder).append_value(f32::from_bits(be_i32(value) as u32));
        }
        PgKind::Float8 => {
            need(8)?;
            cast!(Float64Builder).append_value(f64::from_bits(be_i64(value) as u64));
        }
        PgKind::Numeric { precision, scale } => {
            let b = cast!(Decimal128Builder);
            match numeric_to_i128(value, *scale).map_err(|w| corrupt(column, w))? {
                Some(v) if v.unsigned_abs() < 10u128.pow(u32::from(*precision)) => {
                    b.append_value(v)
                }
                Some(_) => {
                    return Err(IngestError::config(
                        &format!("columns.{column}"),
                        &format!(
                            "a value does not fit NUMERIC({precision}, {scale}); give the column a precision and scale in Postgres"
                        ),
                    ));
                }
                // NaN and infinities have no decimal form.
                None => b.append_null(),
            }
        }
        PgKind::Text => {
            let s = std::str::from_utf8(value).map_err(|_| corrupt(column, "invalid UTF-8"))?;
            cast!(StringBuilder).append_value(s);
        }
        PgKind::Json { jsonb } => {
            let body = if *jsonb {
                value.get(1..).unwrap_or_default()
            } else {
                value
            };
            let s = std::str::from_utf8(body).map_err(|_| corrupt(column, "invalid UTF-8"))?;
            cast!(StringBuilder).append_value(s);
        }
        PgKind::Uuid => {
            need(16)?;
            cast!(StringBuilder).append_value(uuid_text(value));
        }
        PgKind::Bool => {
            need(1)?;
            cast!(BooleanBuilder).append_value(value[0] != 0);
        }
        PgKind::Date => {
            need(4)?;
            let days = be_i32(value);
            let b = cast!(Date32Builder);
            // ±infinity have no date.
            if days == i32::MAX || days == i32::MIN {
                b.append_null();
            } else {
                b.append_value(days + PG_EPOCH_DAYS);
            }
        }
        PgKind::Timestamp { .. } => {
            need(8)?;
            let micros = be_i64(value);
            let b = cast!(TimestampMicrosecondBuilder);
            if micros == i64::MAX || micros == i64::MIN {
                b.append_null();
            } else {
                b.append_value(micros + PG_EPOCH_MICROS);
            }
        }
        PgKind::Bytea => cast!(BinaryBuilder).append_value(value),
        PgKind::Array(inner) => {
            let list = cast!(ListBuilder<Box<dyn ArrayBuilder>>);
            if value.len() < 12 {
                return Err(corrupt(column, "array header"));
            }
            let ndim = be_i32(&value[0..4]);
            if ndim > 1 {
                return Err(IngestError::config(
                    &format!("columns.{column}"),
                    "multidimensional arrays cannot be landed; select the column as a one-dimensional array or as text",
                ));
            }
            let mut at = 12;
            let mut count = 0;
            if ndim == 1 {
                if value.len() < 20 {
                    return Err(corrupt(column, "array dimension"));
                }
                count = be_i32(&value[12..16]).max(0) as usize;
                at = 20;
            }
            for _ in 0..count {
                let len = be_i32(
                    value
                        .get(at..at + 4)
                        .ok_or_else(|| corrupt(column, "array element"))?,
                );
                at += 4;
                if len < 0 {
                    append_null(inner, list.values().as_mut());
                } else {
                    let end = at + len as usize;
                    let element = value
                        .get(at..end)
                        .ok_or_else(|| corrupt(column, "array element"))?;
                    append(inner, list.values().as_mut(), element, column)?;
                    at = end;
                }
            }
            list.append(true);
        }
    }
    Ok(())
}

fn append_null(kind: &PgKind, builder: &mut dyn ArrayBuilder) {
    macro_rules! null {
        ($t:ty) => {
            if let Some(b) = builder.as_any_mut().downcast_mut::<$t>() {
                b.append_null();
            }
        };
    }
    match kind {
        PgKind::Int2 => null!(Int16Builder),
        PgKind::Int4 => null!(Int32Builder),
        PgKind::Int8 => null!(Int64Builder),
        PgKind::Float4 => null!(Float32Builder),
        PgKind::Float8 => null!(Float64Builder),
        PgKind::Numeric { .. } => null!(Decimal128Builder),
        PgKind::Text | PgKind::Uuid | PgKind::Json { .. } => null!(StringBuilder),
        PgKind::Bool => null!(BooleanBuilder),
        PgKind::Date => null!(Date32Builder),
        PgKind::Timestamp { .. } => null!(TimestampMicrosecondBuilder),
        PgKind::Bytea => null!(BinaryBuilder),
        PgKind::Array(_) => null!(ListBuilder<Box<dyn ArrayBuilder>>),
    }
}

/// Decodes a binary COPY stream, chunk by chunk, into record batches.
pub struct CopyDecoder {
    names: Vec<String>,
    kinds: Vec<PgKind>,
    builders: Vec<Box<dyn ArrayBuilder>>,
    /// Bytes of a row split across chunks.
    carry: Vec<u8>,
    header_done: bool,
    finished: bool,
    rows: usize,
    capacity: usize,
    /// Index of the incremental column, and the largest value seen there
    /// (its raw bytes compare in order for integers and timestamps).
    watermark_column: Option<usize>,
    pub max_watermark: Option<Vec<u8>>,
}

impl CopyDecoder {
    pub fn new(
        columns: &[(String, PgKind)],
        capacity: usize,
        watermark_column: Option<usize>,
    ) -> Self {
        CopyDecoder {
            names: columns.iter().map(|(n, _)| n.clone()).collect(),
            kinds: columns.iter().map(|(_, k)| k.clone()).collect(),
            builders: columns.iter().map(|(_, k)| k.builder(capacity)).collect(),
            carry: Vec::new(),
            header_done: false,
            finished: false,
            rows: 0,
            capacity,
            watermark_column,
            max_watermark: None,
        }
    }

    /// Rows decoded into the open batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Feeds one chunk of the stream; complete rows go to the builders.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), IngestError> {
        if self.carry.is_empty() {
            let used = self.decode(chunk)?;
            self.carry.extend_from_slice(&chunk[used..]);
        } else {
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(chunk);
            let used = self.decode(&joined)?;
            joined.drain(..used);
            self.carry = joined;
        }
        Ok(())
    }

    /// Decodes whole rows from `buf`; returns how many bytes were used.
    fn decode(&mut self, buf: &[u8]) -> Result<usize, IngestError> {
        let mut at = 0;
        if !self.header_done {
            if buf.len() < 19 {
                return Ok(0);
            }
            if &buf[..11] != SIGNATURE {
                return Err(corrupt("-", "not a binary COPY stream"));
            }
            let extension = be_i32(&buf[15..19]).max(0) as usize;
            if buf.len() < 19 + extension {
                return Ok(0);
            }
            at = 19 + extension;
            self.header_done = true;
        }
        let columns = self.kinds.len();
        'rows: while !self.finished {
            if buf.len() < at + 2 {
                break;
            }
            let fields = be_i16(&buf[at..at + 2]);
            if fields == -1 {
                self.finished = true;
                at += 2;
                break;
            }
            if fields as usize != columns {
                return Err(corrupt("-", "field count"));
            }
            // Check the whole row is here before appending any of it.
            let mut end = at + 2;
            for _ in 0..columns {
                if buf.len() < end + 4 {
                    break 'rows;
                }
                let len = be_i32(&buf[end..end + 4]);
                end += 4 + len.max(0) as usize;
            }
            if buf.len() < end {
                break;
            }
            let mut field = at + 2;
            for c in 0..columns {
                let len = be_i32(&buf[field..field + 4]);
                field += 4;
                if len < 0 {
                    append_null(&self.kinds[c], self.builders[c].as_mut());
                } else {
                    let value = &buf[field..field + len as usize];
                    append(
                        &self.kinds[c],
                        self.builders[c].as_mut(),
                        value,
                        &self.names[c],
                    )?;
                    if self.watermark_column == Some(c)
                        && self
                            .max_watermark
                            .as_deref()
                            .is_none_or(|m| signed_greater(value, m))
                    {
                        self.max_watermark = Some(value.to_vec());
                    }
                    field += len as usize;
                }
            }
            self.rows += 1;
            at = end;
        }
        Ok(at)
    }

    /// The open batch's columns (empty afterwards).
    pub fn finish_batch(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        let capacity = self.capacity;
        self.builders
            .iter_mut()
            .zip(&self.kinds)
            .map(|(b, k)| {
                let array = b.finish();
                *b = k.builder(capacity);
                array
            })
            .collect()
    }

    /// Whether the stream's trailer was seen.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// `a > b` for big-endian two's-complement integers of one width (int2/4/8,
/// date, timestamp): unsigned byte order once the sign bit is flipped.
fn signed_greater(a: &[u8], b: &[u8]) -> bool {
    match (a.split_first(), b.split_first()) {
        (Some((a0, a_rest)), Some((b0, b_rest))) => (a0 ^ 0x80, a_rest) > (b0 ^ 0x80, b_rest),
        (Some(_), None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: &[i16], weight: i16, negative: bool) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(ndigits.len() as i16).to_be_bytes());
        b.extend_from_slice(&weight.to_be_bytes());
        b.extend_from_slice(&(if negative { 0x4000u16 } else { 0 }).to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        for d in ndigits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    #[test]
    fn numerics_scale_exactly() {
        // 12345.6789 = [1, 2345, 6789] weight 1
        assert_eq!(
            numeric_to_i128(&numeric(&[1, 2345, 6789], 1, false), 2),
            Ok(Some(1_234_568))
        );
        assert_eq!(
            numeric_to_i128(&numeric(&[1, 2345, 6789], 1, false), 4),
            Ok(Some(123_456_789))
        );
        assert_eq!(numeric_to_i128(&numeric(&[500], -1, true), 2), Ok(Some(-5)));
        assert_eq!(numeric_to_i128(&numeric(&[5], -1, false), 2), Ok(Some(0)));
        assert_eq!(numeric_to_i128(&numeric(&[50], -1, false), 2), Ok(Some(1)));
        assert_eq!(numeric_to_i128(&numeric(&[], 0, false), 2), Ok(Some(0)));
    }

    #[test]
    fn rows_split_across_chunks_decode_once() {
        let mut stream = SIGNATURE.to_vec();
        stream.extend_from_slice(&0i32.to_be_bytes());
        stream.extend_from_slice(&0i32.to_be_bytes());
        for i in 0..3i32 {
            stream.extend_from_slice(&2i16.to_be_bytes());
            stream.extend_from_slice(&4i32.to_be_bytes());
            stream.extend_from_slice(&i.to_be_bytes());
            stream.extend_from_slice(&(-1i32).to_be_bytes());
        }
        stream.extend_from_slice(&(-1i16).to_be_bytes());
        let columns = vec![
            ("id".to_string(), PgKind::Int4),
            ("t".to_string(), PgKind::Text),
        ];
        let mut d = CopyDecoder::new(&columns, 8, Some(0));
        for chunk in stream.chunks(5) {
            d.feed(chunk).unwrap();
        }
        assert!(d.is_finished());
        assert_eq!(d.rows(), 3);
        assert_eq!(d.max_watermark, Some(2i32.to_be_bytes().to_vec()));
        let arrays = d.finish_batch();
        assert_eq!(arrays[0].len(), 3);
        assert_eq!(arrays[1].null_count(), 3);
    }
}
