//! Compact JSON into a byte buffer, byte for byte what `serde_json` writes,
//! with a string escaper that checks and copies sixteen bytes at a time.
//! `serde_json` looks at every byte of every string on its own, and that
//! was the largest single cost of writing a 30,000-node manifest.

use serde::ser::{self, Serialize};
use std::fmt::Display;

/// Why a value could not be written as JSON (a map key that is not a
/// string or a number, or an error raised by a `Serialize` impl).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Appends `value` as compact JSON to `out`.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(&mut Writer { out })
}

/// Appends `text` as a JSON string, escaped as `serde_json` escapes it.
///
/// Sixteen bytes at a time are checked and copied as one block. Copying the
/// clean runs with `memcpy` instead cost more than the check itself: most
/// strings of a manifest are keys and names shorter than a block, and a call
/// per run (two per string) outweighed copying them.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    // Room for the quotes and for the padding of a short last block, which
    // is written with it and then cut off.
    out.reserve(bytes.len() + 2 + BLOCK);
    out.push(b'"');
    let mut at = 0;
    while at < bytes.len() {
        let (block, length) = match bytes.get(at..at + BLOCK) {
            Some(whole) => (
                u128::from_le_bytes(whole.try_into().unwrap_or_default()),
                BLOCK,
            ),
            None => (tail_block(bytes, at), bytes.len() - at),
        };
        // Padding is spaces, which are never escaped.
        let clean = first_to_escape(block).unwrap_or(length);
        out.extend_from_slice(&block.to_le_bytes());
        out.truncate(out.len() - BLOCK + clean);
        at += clean;
        if clean < length {
            write_escape(out, bytes[at]);
            at += 1;
            out.reserve(bytes.len() - at + 1 + BLOCK);
        }
    }
    out.push(b'"');
}

const BLOCK: usize = 16;

fn write_escape(out: &mut Vec<u8>, byte: u8) {
    match ESCAPE[byte as usize] {
        b'u' => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(byte >> 4) as usize],
            HEX[(byte & 0xF) as usize],
        ]),
        other => out.extend_from_slice(&[b'\\', other]),
    }
}

/// The 1 to 15 bytes from `at` to the end, as the low bytes of a block
/// whose other bytes are spaces. Built in registers from at most two loads:
/// copied through a buffer, a third of the escaper's time went to reading
/// it back.
fn tail_block(bytes: &[u8], at: usize) -> u128 {
    const SPACES: u128 = u128::from_le_bytes([b' '; BLOCK]);
    let rest = &bytes[at..];
    let remaining = rest.len();
    let padding = SPACES << (8 * remaining);
    // Two loads that overlap unless the rest is a power of two long; the
    // overlapping bytes are equal, so or-ing them changes nothing.
    fn two<const N: usize>(rest: &[u8], from_bytes: fn([u8; N]) -> u128) -> u128 {
        let low = from_bytes(rest[..N].try_into().unwrap_or([0; N]));
        let high = from_bytes(rest[rest.len() - N..].try_into().unwrap_or([0; N]));
        low | high << (8 * (rest.len() - N))
    }
    let block = match bytes.len().checked_sub(BLOCK) {
        // The last sixteen bytes, without those already looked at.
        Some(last_block) => {
            u128::from_le_bytes(bytes[last_block..].try_into().unwrap_or_default())
                >> (8 * (BLOCK - remaining))
        }
        None if remaining >= 8 => two::<8>(rest, |b| u64::from_le_bytes(b).into()),
        None if remaining >= 4 => two::<4>(rest, |b| u32::from_le_bytes(b).into()),
        None if remaining >= 2 => two::<2>(rest, |b| u16::from_le_bytes(b).into()),
        None => u128::from(rest[0]),
    };
    block | padding
}

/// Where the first byte of `block` to escape is: a control character, `"`
/// or `\`.
#[cfg(target_arch = "x86_64")]
fn first_to_escape(block: u128) -> Option<usize> {
    // SAFETY: SSE2 is part of x86_64 itself; every x86_64 processor has it.
    let flags = unsafe { escape_flags(block) };
    (flags != 0).then(|| flags.trailing_zeros() as usize)
}

/// Bit `i` set when byte `i` of `block` is to be escaped: one SSE2
/// comparison per kind of byte over all sixteen, where eight-byte words
/// took three times the instructions.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn escape_flags(block: u128) -> i32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x,
        _mm_set1_epi8,
    };
    let bytes = _mm_set_epi64x((block >> 64) as u64 as i64, block as u64 as i64);
    let quote = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'"' as i8));
    let backslash = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\\' as i8));
    // Unsigned: a byte is at most 0x1F when the smaller of it and 0x1F is
    // the byte itself.
    let control = _mm_cmpeq_epi8(_mm_min_epu8(bytes, _mm_set1_epi8(0x1F)), bytes);
    _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
}

#[cfg(not(target_arch = "x86_64"))]
fn first_to_escape(block: u128) -> Option<usize> {
    first_to_escape_in_words(block)
}

/// Where the first byte of `block` to escape is, found in two eight-byte
/// words: for processors without SSE2.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn first_to_escape_in_words(block: u128) -> Option<usize> {
    let in_word = |word: u64| {
        let found = escape_mask(word);
        (found != 0).then(|| (found.trailing_zeros() / 8) as usize)
    };
    in_word(block as u64).or_else(|| in_word((block >> 64) as u64).map(|at| at + 8))
}

/// The high bit of each of the eight bytes that is a control character,
/// `"` or `\`. A flag can be wrong only above a true one (a borrow runs
/// upwards), so the lowest flag is always a byte to escape.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn escape_mask(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
    // A byte below 0x20 borrows into its own high bit when 0x20 is taken
    // from it; `& !word` drops bytes whose high bit was already set.
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let quote = has_zero(word ^ (ONES * b'"' as u64));
    let backslash = has_zero(word ^ (ONES * b'\\' as u64));
    below_space | quote | backslash
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// For each byte: 0 when it is written as is, else the letter after the
/// backslash (`u` for `\u00XX`).
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// The serializer methods for every integer type, each calling the
/// serializer's own `integer`.
macro_rules! integers {
    () => {
        integers!(
            serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
            serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
            serialize_u64: u64, serialize_u128: u128
        );
    };
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(self, v: $ty) -> Result<(), Error> {
            self.integer(v)
        }
    )*};
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn integer(&mut self, n: impl itoa::Integer) -> Result<(), Error> {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        Ok(())
    }

    fn open(&mut self, bracket: u8, closer: &'static [u8]) -> Compound<'_> {
        self.out.push(bracket);
        Compound {
            out: self.out,
            first: true,
            closer,
        }
    }

    /// `{"variant":` before a variant's content.
    fn variant_key(&mut self, variant: &str) {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
    }
}

impl<'w> ser::Serializer for &'w mut Writer<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'w>;
    type SerializeTuple = Compound<'w>;
    type SerializeTupleStruct = Compound<'w>;
    type SerializeTupleVariant = Compound<'w>;
    type SerializeMap = Compound<'w>;
    type SerializeStruct = Compound<'w>;
    type SerializeStructVariant = Compound<'w>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    integers!();
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if v.is_finite() {
            self.out
                .extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
        } else {
            self.out.extend_from_slice(b"null");
        }
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if v.is_finite() {
            self.out
                .extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
        } else {
            self.out.extend_from_slice(b"null");
        }
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.variant_key(variant);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'w>, Error> {
        Ok(self.open(b'[', b"]"))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'w>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'w>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w>, Error> {
        self.variant_key(variant);
        Ok(self.open(b'[', b"]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'w>, Error> {
        Ok(self.open(b'{', b"}"))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'w>, Error> {
        Ok(self.open(b'{', b"}"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w>, Error> {
        self.variant_key(variant);
        Ok(self.open(b'{', b"}}"))
    }
}

/// An array or object being written: a comma goes before every entry but
/// the first.
pub struct Compound<'w> {
    out: &'w mut Vec<u8>,
    first: bool,
    closer: &'static [u8],
}

impl Compound<'_> {
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.separate();
        value.serialize(&mut Writer { out: self.out })
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.separate();
        write_field_key(self.out, key);
        value.serialize(&mut Writer { out: self.out })
    }

    fn close(self) -> Result<(), Error> {
        self.out.extend_from_slice(self.closer);
        Ok(())
    }
}

/// Appends `"key":` for a struct's field name. A manifest writes the same
/// fifty names over a million times, so each thread keeps each name
/// written, padded to a fixed size, in a small table found by the name's
/// address: a hit is a comparison or two and one fixed-size copy. (A hash
/// map of written names cost 165 instructions a name; escaping each one
/// again, 145.) Names escaped or too long for a slot are written anew.
fn write_field_key(out: &mut Vec<u8>, key: &'static str) {
    thread_local! {
        static WRITTEN: std::cell::RefCell<[WrittenKey; KEY_SLOTS]> =
            const { std::cell::RefCell::new([WrittenKey::EMPTY; KEY_SLOTS]) };
    }
    let address = key.as_ptr() as usize;
    // Fibonacci hashing: the top bits of the product spread nearby addresses.
    let home = (address as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - KEY_SLOTS.ilog2());
    let kept = WRITTEN.with_borrow_mut(|table| {
        // Open addressing: slots are filled once and never given up, so a
        // name's slot is at or after its home, before the first empty one.
        for probe in 0..KEY_PROBES {
            let entry = &mut table[(home as usize + probe) % KEY_SLOTS];
            // Static names never move, so an address and a length name one text.
            let found = entry.address == address && usize::from(entry.len) == key.len() + 3;
            if !found {
                if entry.len != 0 {
                    continue;
                }
                let Some(written) = plain_key(key) else {
                    return false;
                };
                entry.bytes[..written.len()].copy_from_slice(written.as_bytes());
                entry.len = written.len() as u8;
                entry.address = address;
            }
            // The whole slot is copied and its padding cut off: one copy of
            // a known size instead of a call to copy the name's length.
            out.reserve(KEY_BYTES);
            // SAFETY: `reserve` made room for KEY_BYTES past the end, and
            // the first `entry.len` of them are the slot's written bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    entry.bytes.as_ptr(),
                    out.as_mut_ptr().add(out.len()),
                    KEY_BYTES,
                );
                out.set_len(out.len() + usize::from(entry.len));
            }
            return true;
        }
        false
    });
    if !kept {
        write_str(out, key);
        out.push(b':');
    }
}

/// `"key":` when that is how `key` is written (nothing to escape) and it
/// fits a slot.
fn plain_key(key: &str) -> Option<String> {
    let plain = key.len() + 3 <= KEY_BYTES && key.bytes().all(|b| ESCAPE[b as usize] == 0);
    plain.then(|| format!("\"{key}\":"))
}

/// Written names kept per thread: a program's field names are a few
/// hundred at most, a manifest's about fifty.
const KEY_SLOTS: usize = 256;
/// How far past its home slot a name is looked for, or kept.
const KEY_PROBES: usize = 16;
/// A slot's room for `"name":`.
const KEY_BYTES: usize = 32;

/// One name as written: `"name":`, its length, and the name's address.
#[derive(Clone, Copy)]
struct WrittenKey {
    address: usize,
    len: u8,
    bytes: [u8; KEY_BYTES],
}

impl WrittenKey {
    const EMPTY: WrittenKey = WrittenKey {
        address: 0,
        len: 0,
        bytes: [0; KEY_BYTES],
    };
}

/// serde's four kinds of list share one implementation: `$method` adds an
/// element.
macro_rules! list_impl {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )*};
}

list_impl!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.separate();
        key.serialize(KeyWriter { out: self.out })?;
        self.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut Writer { out: self.out })
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// Structs and struct variants: named fields.
macro_rules! struct_impl {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.field(key, value)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )*};
}

struct_impl!(SerializeStruct, SerializeStructVariant);

/// Map keys: strings as they are, and numbers, booleans and characters as
/// strings, as `serde_json` writes them.
struct KeyWriter<'w> {
    out: &'w mut Vec<u8>,
}

impl KeyWriter<'_> {
    fn quoted(self, text: &str) -> Result<(), Error> {
        write_str(self.out, text);
        Ok(())
    }

    fn integer(self, n: impl itoa::Integer) -> Result<(), Error> {
        self.quoted(itoa::Buffer::new().format(n))
    }
}

fn key_must_be_a_string() -> Error {
    Error("key must be a string".to_string())
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(if v { "true" } else { "false" })
    }
    integers!();
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(Error("float key must be finite".to_string()));
        }
        self.quoted(ryu::Buffer::new().format_finite(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(Error("float key must be finite".to_string()));
        }
        self.quoted(ryu::Buffer::new().format_finite(v))
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.quoted(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.quoted(v)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.quoted(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ours<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = Vec::new();
        write(&mut out, value).expect("serializes");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every_byte = String::new();
        for c in 0u8..=0x7F {
            every_byte.push(c as char);
        }
        let cases = [
            String::new(),
            "plain".to_string(),
            "exactly8".to_string(),
            "sixteen bytes ok".to_string(),
            "a \"quoted\" word and a \\ backslash, long enough for words".to_string(),
            "tab\there\nnew line\r\u{8}\u{c}\u{1}\u{1f}\u{7f}".to_string(),
            "non-ASCII: café, 東京, emoji 🦀, then \"quote\" after 8+ bytes".to_string(),
            every_byte,
            "x".repeat(100) + "\n" + &"y".repeat(7),
        ];
        for case in &cases {
            assert_eq!(ours(case), serde_json::to_string(case).unwrap(), "{case:?}");
            // Every starting alignment of the sixteen-byte steps.
            for skip in 0..BLOCK.min(case.len()) {
                if let Some(tail) = case.get(skip..) {
                    assert_eq!(ours(tail), serde_json::to_string(tail).unwrap());
                }
            }
        }
    }

    /// Two bytes side by side at every position of strings of every length
    /// up to two blocks and a padded tail: an escaped byte borrows into the
    /// byte above it in an eight-byte word, which must not be mistaken for
    /// one to escape, and strings shorter than a block are read by loads of
    /// their own sizes.
    #[test]
    fn neighbouring_bytes_are_escaped_as_serde_json_escapes_them() {
        let specials = [
            '\0', '\u{1f}', ' ', '!', '"', '\\', '\n', 'a', '\u{7f}', 'é',
        ];
        for first in specials {
            for second in specials {
                for others in 0..36 {
                    for at in 0..=others {
                        let text = format!(
                            "{}{first}{second}{}",
                            "x".repeat(at),
                            "y".repeat(others - at)
                        );
                        assert_eq!(
                            ours(&text),
                            serde_json::to_string(&text).unwrap(),
                            "{text:?}"
                        );
                    }
                }
            }
        }
        for length in 0..36 {
            let text: String = ('a'..='z').take(length).collect();
            assert_eq!(ours(&text), serde_json::to_string(&text).unwrap());
        }
    }

    /// Both ways of finding the first byte to escape agree with a byte by
    /// byte search, for every byte value at every position of a block, on
    /// clean backgrounds and beside other bytes to escape.
    #[test]
    fn the_first_byte_to_escape_is_found_both_ways() {
        let by_bytes = |block: u128| {
            block
                .to_le_bytes()
                .iter()
                .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        };
        for background in [b'a', b' ', 0x7F, 0xFF, b'!', b'#', 0x80] {
            for at in 0..BLOCK {
                for byte in 0..=255u8 {
                    let mut bytes = [background; BLOCK];
                    bytes[at] = byte;
                    if at + 1 < BLOCK {
                        bytes[at + 1] = b'"';
                    }
                    let block = u128::from_le_bytes(bytes);
                    assert_eq!(first_to_escape(block), by_bytes(block), "{bytes:?}");
                    assert_eq!(
                        first_to_escape_in_words(block),
                        by_bytes(block),
                        "{bytes:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn values_are_written_as_serde_json_writes_them() {
        let value = json!({
            "null": null, "true": true, "false": false,
            "int": -42, "big": u64::MAX, "float": 0.0, "third": 0.333333, "tiny": 1e-300,
            "list": [1, "two", [], {}, [null]],
            "nested": {"b": {"c": "d\"e"}, "a": []},
            "key with \"quotes\"": "x"
        });
        assert_eq!(ours(&value), serde_json::to_string(&value).unwrap());
    }

    #[derive(serde::Serialize)]
    enum Shape {
        Unit,
        Newtype(u8),
        Tuple(u8, &'static str),
        Struct { side: f64 },
    }

    #[derive(serde::Serialize)]
    struct Everything {
        shapes: Vec<Shape>,
        maybe: Option<&'static str>,
        nothing: Option<u8>,
        unit: (),
        chars: char,
        bytes: &'static [u8],
        by_number: std::collections::BTreeMap<i32, bool>,
        by_flag: std::collections::BTreeMap<bool, f32>,
        nan: f64,
        tuple: (i8, u128, f32),
        /// Field names are escaped too, never kept written: an escaped
        /// name is longer than itself.
        #[serde(rename = "a \"quoted\" name with a \\ and a\ttab, long enough for two blocks")]
        renamed: u8,
        #[serde(rename = "q\"")]
        short_escaped: u8,
        /// `"name":` fills a kept slot exactly; one byte longer, it is
        /// written anew each time.
        a_name_of_twenty_nine_bytes_x: u8,
        a_name_of_thirty_bytes_long_xy: u8,
        /// Empty names are written as `"":`.
        #[serde(rename = "")]
        empty: u8,
    }

    #[test]
    fn derived_types_are_written_as_serde_json_writes_them() {
        let value = Everything {
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(1, "a"),
                Shape::Struct { side: 2.5 },
            ],
            maybe: Some("yes"),
            nothing: None,
            unit: (),
            chars: '"',
            bytes: b"ab",
            by_number: [(-1, true), (10, false)].into_iter().collect(),
            by_flag: [(true, 1.5)].into_iter().collect(),
            nan: f64::NAN,
            tuple: (-8, u128::MAX, 0.1),
            renamed: 1,
            short_escaped: 2,
            a_name_of_twenty_nine_bytes_x: 3,
            a_name_of_thirty_bytes_long_xy: 4,
            empty: 5,
        };
        // Twice: the second time, field names come from the written ones.
        assert_eq!(ours(&value), serde_json::to_string(&value).unwrap());
        assert_eq!(ours(&value), serde_json::to_string(&value).unwrap());
    }

    /// More field names than a thread keeps: the rest are written anew.
    struct ManyFields(Vec<&'static str>);

    impl serde::Serialize for ManyFields {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeStruct;
            let mut fields = s.serialize_struct("ManyFields", self.0.len())?;
            for (i, name) in self.0.iter().enumerate() {
                fields.serialize_field(name, &i)?;
            }
            fields.end()
        }
    }

    #[test]
    fn field_names_beyond_the_kept_ones_are_still_written() {
        let names = (0..3 * KEY_SLOTS)
            .map(|i| &*Box::leak(format!("field_{i}").into_boxed_str()))
            .collect();
        let value = ManyFields(names);
        assert_eq!(ours(&value), serde_json::to_string(&value).unwrap());
        assert_eq!(ours(&value), serde_json::to_string(&value).unwrap());
    }

    #[test]
    fn a_key_that_is_not_a_string_or_number_is_an_error() {
        let map: std::collections::BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        assert!(write(&mut Vec::new(), &map).is_err());
        assert!(serde_json::to_string(&map).is_err());
    }
}
