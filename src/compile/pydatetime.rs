//! `modules.datetime` and `modules.pytz` as dbt's Jinja context has them:
//! Python's `datetime`, `date` and `timedelta` values (fields, methods,
//! comparisons, Python's text forms) and pytz time zones from the IANA
//! database (`timezone`, `utc`, `localize`, `astimezone`).
//!
//! minijinja has no operator hooks for objects, so arithmetic is offered
//! through the methods templates can call (`dt.replace(...)`,
//! `modules.datetime.timedelta(...)` with `__add__`/`__sub__`); this module
//! never touches the engine's operators.

use chrono::{
    DateTime as ChronoDateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc,
};
use minijinja::value::{DynObject, Enumerator, Kwargs, Object, Value};
use minijinja::{Error, ErrorKind, State};
use std::cmp::Ordering;
use std::sync::Arc;

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// A time zone as Python code holds one: pytz's UTC, a fixed offset
/// (`datetime.timezone(timedelta)`), or an IANA zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Utc,
    Fixed(i32),
    Iana(chrono_tz::Tz),
}

impl Zone {
    fn name(&self) -> String {
        match self {
            Zone::Utc => "UTC".into(),
            Zone::Fixed(secs) => format!("UTC{}", offset_text(*secs, true)),
            Zone::Iana(tz) => tz.name().to_string(),
        }
    }

    /// The offset at the UTC instant `utc`.
    fn offset_at_utc(&self, utc: NaiveDateTime) -> i32 {
        match self {
            Zone::Utc => 0,
            Zone::Fixed(s) => *s,
            Zone::Iana(tz) => tz.offset_from_utc_datetime(&utc).fix().local_minus_utc(),
        }
    }

    /// The offset of wall time `local` (pytz's `localize`, `is_dst=False`
    /// for an ambiguous time, the later offset for a missing one).
    fn offset_at_local(&self, local: NaiveDateTime) -> i32 {
        match self {
            Zone::Utc => 0,
            Zone::Fixed(s) => *s,
            Zone::Iana(tz) => {
                use chrono::LocalResult;
                match tz.offset_from_local_datetime(&local) {
                    LocalResult::Single(o) => o.fix().local_minus_utc(),
                    // Python's is_dst=False: the standard-time (later) one.
                    LocalResult::Ambiguous(a, b) => {
                        let (a, b) = (a.fix().local_minus_utc(), b.fix().local_minus_utc());
                        a.min(b)
                    }
                    LocalResult::None => self.offset_at_utc(local),
                }
            }
        }
    }

    /// The offset pytz attaches when a zone is passed as `tzinfo=` directly:
    /// the zone's first entry, its local mean time (a known pytz quirk that
    /// dbt users meet; `localize` gives the real offset).
    fn raw_tzinfo_offset(&self) -> i32 {
        match self {
            Zone::Iana(tz) => {
                let early = NaiveDate::from_ymd_opt(1800, 1, 1)
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .unwrap_or_default();
                tz.offset_from_utc_datetime(&early).fix().local_minus_utc()
            }
            other => other.offset_at_utc(NaiveDateTime::default()),
        }
    }

    fn abbreviation(&self, utc: NaiveDateTime) -> String {
        match self {
            Zone::Utc => "UTC".into(),
            Zone::Fixed(s) => format!("UTC{}", offset_text(*s, true)),
            Zone::Iana(tz) => {
                use chrono_tz::OffsetName;
                let o = tz.offset_from_utc_datetime(&utc);
                o.abbreviation().unwrap_or("").to_string()
            }
        }
    }
}

/// `+HH:MM` (and `:SS` when the offset has seconds), or `+HHMM` unpunctuated.
fn offset_text(secs: i32, colon: bool) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    let sep = if colon { ":" } else { "" };
    if s != 0 {
        format!("{sign}{h:02}{sep}{m:02}{sep}{s:02}")
    } else {
        format!("{sign}{h:02}{sep}{m:02}")
    }
}

/// A pytz time zone object: `modules.pytz.timezone('Europe/Paris')`.
#[derive(Debug)]
pub struct PyTzInfo(pub Zone);

impl Object for PyTzInfo {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "zone" => Some(Value::from(self.0.name())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let dt = args.first().and_then(|v| v.downcast_object::<PyDateTime>());
        match method {
            "localize" => {
                let dt = dt.ok_or_else(|| bad("localize() takes a naive datetime"))?;
                if dt.offset.is_some() {
                    return Err(bad(
                        "localize(): not a naive datetime (tzinfo is already set)",
                    ));
                }
                let offset = self.0.offset_at_local(dt.local);
                Ok(PyDateTime::aware(dt.local, self.0, offset))
            }
            "normalize" => {
                let dt = dt.ok_or_else(|| bad("normalize() takes an aware datetime"))?;
                Ok(dt.astimezone(self.0))
            }
            "utcoffset" | "dst" => {
                let dt = dt.ok_or_else(|| bad(format!("{method}() takes a datetime")))?;
                let offset = self.0.offset_at_local(dt.local);
                Ok(PyTimeDelta::value(Duration::seconds(if method == "dst" {
                    0
                } else {
                    offset as i64
                })))
            }
            "tzname" => {
                let dt = dt.ok_or_else(|| bad("tzname() takes a datetime"))?;
                Ok(Value::from(self.0.abbreviation(dt.utc())))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        let other = other.downcast_ref::<Self>()?;
        (self.0 == other.0).then_some(Ordering::Equal)
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.name())
    }
}

fn zone_of(v: &Value) -> Result<Option<Zone>, Error> {
    if v.is_none() || v.is_undefined() {
        return Ok(None);
    }
    if let Some(tz) = v.downcast_object_ref::<PyTzInfo>() {
        return Ok(Some(tz.0));
    }
    if let Some(name) = v.as_str() {
        return timezone(name).map(Some);
    }
    Err(bad(format!("expected a time zone, got {v}")))
}

/// `pytz.timezone(name)`, with pytz's error for an unknown name.
pub fn timezone(name: &str) -> Result<Zone, Error> {
    if name.eq_ignore_ascii_case("utc") {
        return Ok(Zone::Utc);
    }
    name.parse::<chrono_tz::Tz>().map(Zone::Iana).map_err(|_| {
        bad(format!(
            "pytz.exceptions.UnknownTimeZoneError: '{name}' (use an IANA name such as 'America/New_York')"
        ))
    })
}

/// A Python `datetime.datetime`: wall time plus, when aware, its zone and
/// the offset in force.
#[derive(Debug, Clone)]
pub struct PyDateTime {
    pub local: NaiveDateTime,
    pub offset: Option<(Zone, i32)>,
}

impl PyDateTime {
    pub fn naive(local: NaiveDateTime) -> Value {
        Value::from_object(PyDateTime {
            local,
            offset: None,
        })
    }

    fn aware(local: NaiveDateTime, zone: Zone, offset: i32) -> Value {
        Value::from_object(PyDateTime {
            local,
            offset: Some((zone, offset)),
        })
    }

    /// An aware UTC datetime for `utc`.
    pub fn utc_value(utc: NaiveDateTime) -> Value {
        Self::aware(utc, Zone::Utc, 0)
    }

    fn utc(&self) -> NaiveDateTime {
        match self.offset {
            Some((_, o)) => self.local - Duration::seconds(o as i64),
            None => self.local,
        }
    }

    fn astimezone(&self, zone: Zone) -> Value {
        let utc = self.utc();
        let offset = zone.offset_at_utc(utc);
        Self::aware(utc + Duration::seconds(offset as i64), zone, offset)
    }

    fn shifted(&self, by: Duration) -> Value {
        Value::from_object(PyDateTime {
            local: self.local + by,
            offset: self.offset,
        })
    }

    fn text(&self, sep: char) -> String {
        let mut s = self.local.format("%Y-%m-%d").to_string();
        s.push(sep);
        s.push_str(&self.local.format("%H:%M:%S").to_string());
        if self.local.nanosecond() / 1000 != 0 {
            s.push_str(&format!(".{:06}", self.local.nanosecond() / 1000));
        }
        if let Some((_, o)) = self.offset {
            s.push_str(&offset_text(o, true));
        }
        s
    }

    fn strftime(&self, fmt: &str) -> Result<String, Error> {
        let tzname = self
            .offset
            .map(|(z, _)| z.abbreviation(self.utc()))
            .unwrap_or_default();
        let offset = self
            .offset
            .map(|(_, o)| offset_text(o, false))
            .unwrap_or_default();
        strftime(fmt, |spec| match spec {
            'z' => Some(offset.clone()),
            'Z' => Some(tzname.clone()),
            _ => None,
        })
        .and_then(|chrono_fmt| {
            let mut out = String::new();
            use std::fmt::Write;
            write!(out, "{}", self.local.format(&chrono_fmt))
                .map_err(|_| bad(format!("strftime: bad format `{fmt}`")))?;
            Ok(out)
        })
    }

    fn replace(&self, kwargs: &Kwargs) -> Result<Value, Error> {
        let get = |k: &str, d: u32| -> Result<u32, Error> {
            Ok(kwargs.get::<Option<u32>>(k)?.unwrap_or(d))
        };
        let year = kwargs
            .get::<Option<i32>>("year")?
            .unwrap_or(self.local.year());
        let date = NaiveDate::from_ymd_opt(
            year,
            get("month", self.local.month())?,
            get("day", self.local.day())?,
        )
        .ok_or_else(|| bad("replace(): day is out of range for month"))?;
        let time = NaiveTime::from_hms_micro_opt(
            get("hour", self.local.hour())?,
            get("minute", self.local.minute())?,
            get("second", self.local.second())?,
            get("microsecond", self.local.nanosecond() / 1000)?,
        )
        .ok_or_else(|| bad("replace(): a time field is out of range"))?;
        let local = date.and_time(time);
        let offset = if kwargs.has("tzinfo") {
            let tz: Value = kwargs.get("tzinfo")?;
            zone_of(&tz)?.map(|z| (z, z.raw_tzinfo_offset()))
        } else {
            self.offset
        };
        Ok(Value::from_object(PyDateTime { local, offset }))
    }
}

impl Object for PyDateTime {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let d = self.local;
        Some(match key.as_str()? {
            "year" => Value::from(d.year()),
            "month" => Value::from(d.month()),
            "day" => Value::from(d.day()),
            "hour" => Value::from(d.hour()),
            "minute" => Value::from(d.minute()),
            "second" => Value::from(d.second()),
            "microsecond" => Value::from(d.nanosecond() / 1000),
            "tzinfo" => match self.offset {
                Some((z, _)) => Value::from_object(PyTzInfo(z)),
                None => Value::from(()),
            },
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (positional, kwargs) = super::values::split_kwargs(args);
        let arg = |i: usize| positional.get(i).cloned().unwrap_or(Value::from(()));
        match method {
            "strftime" => Ok(Value::from(self.strftime(&arg(0).to_string())?)),
            "isoformat" => {
                let sep = positional
                    .first()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .or_else(|| kwargs.as_ref()?.get::<Option<String>>("sep").ok()?)
                    .and_then(|s| s.chars().next())
                    .unwrap_or('T');
                Ok(Value::from(self.text(sep)))
            }
            "date" => Ok(Value::from_object(PyDate(self.local.date()))),
            "time" => Ok(Value::from(self.local.format("%H:%M:%S").to_string())),
            "timestamp" => {
                let micros = self.utc().and_utc().timestamp_micros();
                Ok(Value::from(micros as f64 / 1e6))
            }
            "weekday" => Ok(Value::from(self.local.weekday().num_days_from_monday())),
            "isoweekday" => Ok(Value::from(self.local.weekday().number_from_monday())),
            "isocalendar" => Ok(isocalendar(self.local.date())),
            "toordinal" => Ok(Value::from(ordinal(self.local.date()))),
            "utcoffset" => Ok(match self.offset {
                Some((_, o)) => PyTimeDelta::value(Duration::seconds(o as i64)),
                None => Value::from(()),
            }),
            "tzname" => Ok(match self.offset {
                Some((z, _)) => Value::from(z.abbreviation(self.utc())),
                None => Value::from(()),
            }),
            "replace" => match &kwargs {
                Some(kw) => self.replace(kw),
                None => Ok(Value::from_object((**self).clone())),
            },
            "astimezone" => {
                let zone = zone_of(&arg(0))?.unwrap_or(Zone::Utc);
                Ok(self.astimezone(zone))
            }
            "__add__" | "__radd__" => Ok(self.shifted(duration_of(&arg(0))?)),
            "__sub__" => {
                let other = arg(0);
                if let Some(o) = other.downcast_object_ref::<PyDateTime>() {
                    if self.offset.is_some() != o.offset.is_some() {
                        return Err(bad(
                            "can't subtract offset-naive and offset-aware datetimes",
                        ));
                    }
                    return Ok(PyTimeDelta::value(self.utc() - o.utc()));
                }
                Ok(self.shifted(-duration_of(&other)?))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        let other = other.downcast_ref::<Self>()?;
        Some(self.utc().cmp(&other.utc()))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text(' '))
    }
}

fn isocalendar(d: NaiveDate) -> Value {
    let w = d.iso_week();
    Value::from(vec![
        Value::from(w.year()),
        Value::from(w.week()),
        Value::from(d.weekday().number_from_monday()),
    ])
}

/// Python's proleptic Gregorian ordinal (0001-01-01 is 1).
fn ordinal(d: NaiveDate) -> i64 {
    d.num_days_from_ce() as i64
}

/// A Python `datetime.date`.
#[derive(Debug, Clone)]
pub struct PyDate(pub NaiveDate);

impl Object for PyDate {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "year" => Value::from(self.0.year()),
            "month" => Value::from(self.0.month()),
            "day" => Value::from(self.0.day()),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (positional, kwargs) = super::values::split_kwargs(args);
        let arg = |i: usize| positional.get(i).cloned().unwrap_or(Value::from(()));
        match method {
            "strftime" => {
                let fmt = strftime(&arg(0).to_string(), |_| None)?;
                let mut out = String::new();
                use std::fmt::Write;
                write!(out, "{}", self.0.format(&fmt))
                    .map_err(|_| bad(format!("strftime: bad format `{}`", arg(0))))?;
                Ok(Value::from(out))
            }
            "isoformat" => Ok(Value::from(self.0.format("%Y-%m-%d").to_string())),
            "weekday" => Ok(Value::from(self.0.weekday().num_days_from_monday())),
            "isoweekday" => Ok(Value::from(self.0.weekday().number_from_monday())),
            "isocalendar" => Ok(isocalendar(self.0)),
            "toordinal" => Ok(Value::from(ordinal(self.0))),
            "replace" => {
                let Some(kw) = kwargs else {
                    return Ok(Value::from_object((**self).clone()));
                };
                let year = kw.get::<Option<i32>>("year")?.unwrap_or(self.0.year());
                let month = kw.get::<Option<u32>>("month")?.unwrap_or(self.0.month());
                let day = kw.get::<Option<u32>>("day")?.unwrap_or(self.0.day());
                NaiveDate::from_ymd_opt(year, month, day)
                    .map(|d| Value::from_object(PyDate(d)))
                    .ok_or_else(|| bad("replace(): day is out of range for month"))
            }
            "__add__" | "__radd__" => {
                let by = duration_of(&arg(0))?;
                Ok(Value::from_object(PyDate(
                    self.0 + Duration::days(by.num_days()),
                )))
            }
            "__sub__" => {
                let other = arg(0);
                if let Some(o) = other.downcast_object_ref::<PyDate>() {
                    return Ok(PyTimeDelta::value(self.0 - o.0));
                }
                let by = duration_of(&other)?;
                Ok(Value::from_object(PyDate(
                    self.0 - Duration::days(by.num_days()),
                )))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        let other = other.downcast_ref::<Self>()?;
        Some(self.0.cmp(&other.0))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// A Python `datetime.timedelta`, to the microsecond.
#[derive(Debug, Clone)]
pub struct PyTimeDelta(pub Duration);

impl PyTimeDelta {
    pub fn value(d: Duration) -> Value {
        Value::from_object(PyTimeDelta(d))
    }

    /// Python's normalized parts: days (any sign), 0 <= seconds < 86400,
    /// 0 <= microseconds < 1e6.
    fn parts(&self) -> (i64, i64, i64) {
        let micros = self.0.num_microseconds().unwrap_or(i64::MAX);
        let days = micros.div_euclid(86_400_000_000);
        let rest = micros.rem_euclid(86_400_000_000);
        (days, rest / 1_000_000, rest % 1_000_000)
    }
}

impl Object for PyTimeDelta {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let (days, seconds, micros) = self.parts();
        Some(match key.as_str()? {
            "days" => Value::from(days),
            "seconds" => Value::from(seconds),
            "microseconds" => Value::from(micros),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let other = args.first().cloned().unwrap_or(Value::from(()));
        match method {
            "total_seconds" => Ok(Value::from(
                self.0.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6,
            )),
            // timedelta + date: Python's NotImplemented, so the date's
            // `__radd__` answers.
            "__add__" if other.downcast_object_ref::<PyTimeDelta>().is_none() => {
                Err(Error::from(ErrorKind::UnknownMethod))
            }
            "__add__" => Ok(PyTimeDelta::value(self.0 + duration_of(&other)?)),
            "__sub__" => Ok(PyTimeDelta::value(self.0 - duration_of(&other)?)),
            "__neg__" => Ok(PyTimeDelta::value(-self.0)),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        let other = other.downcast_ref::<Self>()?;
        Some(self.0.cmp(&other.0))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (days, seconds, micros) = self.parts();
        if days != 0 {
            let plural = if days.abs() == 1 { "" } else { "s" };
            write!(f, "{days} day{plural}, ")?;
        }
        write!(
            f,
            "{}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )?;
        if micros != 0 {
            write!(f, ".{micros:06}")?;
        }
        Ok(())
    }
}

fn duration_of(v: &Value) -> Result<Duration, Error> {
    v.downcast_object_ref::<PyTimeDelta>()
        .map(|d| d.0)
        .ok_or_else(|| bad(format!("expected a timedelta, got {v}")))
}

/// Python's strftime directives in chrono's syntax: `%f` is six digits in
/// Python and nine in chrono; `%z`/`%Z` are filled in by `special`.
fn strftime(fmt: &str, special: impl Fn(char) -> Option<String>) -> Result<String, Error> {
    let mut out = String::with_capacity(fmt.len() + 8);
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return Err(bad(format!("strftime: the format `{fmt}` ends in `%`")));
        };
        match spec {
            'f' => out.push_str("%6f"),
            '%' => out.push_str("%%"),
            'z' | 'Z' => {
                let text = special(spec).unwrap_or_default();
                out.push_str(&text.replace('%', "%%"));
            }
            '-' => {
                out.push_str("%-");
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            other => {
                out.push('%');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Positional-or-keyword integer arguments, Python style.
fn int_args(
    positional: &[Value],
    kwargs: Option<&Kwargs>,
    names: &[&str],
    defaults: &[i64],
) -> Result<Vec<i64>, Error> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if let Some(v) = positional.get(i) {
                return i64::try_from(v.clone())
                    .map_err(|_| bad(format!("{name} must be an integer, got {v}")));
            }
            if let Some(Some(v)) = kwargs.map(|k| k.get::<Option<i64>>(name)).transpose()? {
                return Ok(v);
            }
            defaults
                .get(i)
                .copied()
                .filter(|d| *d >= 0)
                .ok_or_else(|| bad(format!("missing required argument '{name}'")))
        })
        .collect()
}

fn make_date(y: i64, m: i64, d: i64) -> Result<NaiveDate, Error> {
    NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32).ok_or_else(|| {
        bad(format!(
            "date({y}, {m}, {d}): day is out of range for month"
        ))
    })
}

/// `modules.datetime.datetime`: the constructor and its class methods.
#[derive(Debug)]
struct DateTimeClass;

impl Object for DateTimeClass {
    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let (positional, kwargs) = super::values::split_kwargs(args);
        let v = int_args(
            positional,
            kwargs.as_ref(),
            &[
                "year",
                "month",
                "day",
                "hour",
                "minute",
                "second",
                "microsecond",
            ],
            &[-1, -1, -1, 0, 0, 0, 0],
        )?;
        let date = make_date(v[0], v[1], v[2])?;
        let time =
            NaiveTime::from_hms_micro_opt(v[3] as u32, v[4] as u32, v[5] as u32, v[6] as u32)
                .ok_or_else(|| bad("datetime(): a time field is out of range"))?;
        let tz = match (positional.get(7), kwargs.as_ref()) {
            (Some(tz), _) => zone_of(tz)?,
            (None, Some(kw)) => zone_of(&kw.get::<Option<Value>>("tzinfo")?.unwrap_or_default())?,
            _ => None,
        };
        let local = date.and_time(time);
        Ok(match tz {
            Some(z) => PyDateTime::aware(local, z, z.raw_tzinfo_offset()),
            None => PyDateTime::naive(local),
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (positional, kwargs) = super::values::split_kwargs(args);
        let arg = |i: usize, k: &str| -> Value {
            positional
                .get(i)
                .cloned()
                .or_else(|| kwargs.as_ref()?.get::<Option<Value>>(k).ok()?)
                .unwrap_or(Value::from(()))
        };
        let now = Utc::now().naive_utc();
        match method {
            "now" => Ok(match zone_of(&arg(0, "tz"))? {
                Some(z) => PyDateTime {
                    local: now,
                    offset: Some((Zone::Utc, 0)),
                }
                .astimezone(z),
                None => PyDateTime::naive(now),
            }),
            "utcnow" | "today" => Ok(PyDateTime::naive(now)),
            "strptime" => {
                let text = arg(0, "date_string").to_string();
                let fmt = arg(1, "format").to_string();
                strptime(&text, &fmt)
            }
            "fromisoformat" => parse_iso(&arg(0, "date_string").to_string()),
            "fromtimestamp" | "utcfromtimestamp" => {
                let ts = f64::try_from(arg(0, "timestamp"))
                    .map_err(|_| bad("fromtimestamp() takes a number"))?;
                let utc = ChronoDateTime::from_timestamp_micros((ts * 1e6).round() as i64)
                    .ok_or_else(|| bad("fromtimestamp(): out of range"))?
                    .naive_utc();
                let zone = if method == "fromtimestamp" {
                    zone_of(&arg(1, "tz"))?
                } else {
                    None
                };
                Ok(match zone {
                    Some(z) => PyDateTime {
                        local: utc,
                        offset: Some((Zone::Utc, 0)),
                    }
                    .astimezone(z),
                    None => PyDateTime::naive(utc),
                })
            }
            "combine" => {
                let d = arg(0, "date");
                let date = d
                    .downcast_object_ref::<PyDate>()
                    .map(|d| d.0)
                    .ok_or_else(|| bad("combine() takes a date"))?;
                Ok(PyDateTime::naive(
                    date.and_hms_opt(0, 0, 0).unwrap_or_default(),
                ))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

fn strptime(text: &str, fmt: &str) -> Result<Value, Error> {
    let chrono_fmt = fmt.replace("%f", "%6f");
    if let Ok(dt) = ChronoDateTime::parse_from_str(text, &chrono_fmt) {
        let offset = dt.offset().local_minus_utc();
        return Ok(PyDateTime::aware(
            dt.naive_local(),
            Zone::Fixed(offset),
            offset,
        ));
    }
    NaiveDateTime::parse_from_str(text, &chrono_fmt)
        .or_else(|_| {
            NaiveDate::parse_from_str(text, &chrono_fmt).map(|d| d.and_time(NaiveTime::MIN))
        })
        .map(PyDateTime::naive)
        .map_err(|e| {
            bad(format!(
                "time data '{text}' does not match format '{fmt}': {e}"
            ))
        })
}

fn parse_iso(text: &str) -> Result<Value, Error> {
    let t = text.trim();
    if let Ok(dt) = ChronoDateTime::parse_from_rfc3339(t)
        .or_else(|_| ChronoDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%:z"))
    {
        let offset = dt.offset().local_minus_utc();
        return Ok(PyDateTime::aware(
            dt.naive_local(),
            Zone::Fixed(offset),
            offset,
        ));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(PyDateTime::naive(dt));
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .map(|d| PyDateTime::naive(d.and_time(NaiveTime::MIN)))
        .map_err(|_| bad(format!("Invalid isoformat string: '{text}'")))
}

/// `modules.datetime.date`.
#[derive(Debug)]
struct DateClass;

impl Object for DateClass {
    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let (positional, kwargs) = super::values::split_kwargs(args);
        let v = int_args(
            positional,
            kwargs.as_ref(),
            &["year", "month", "day"],
            &[-1, -1, -1],
        )?;
        Ok(Value::from_object(PyDate(make_date(v[0], v[1], v[2])?)))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "today" => Ok(Value::from_object(PyDate(Utc::now().date_naive()))),
            "fromisoformat" => {
                let text = args.first().map(Value::to_string).unwrap_or_default();
                NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                    .map(|d| Value::from_object(PyDate(d)))
                    .map_err(|_| bad(format!("Invalid isoformat string: '{text}'")))
            }
            "fromordinal" => {
                let n = args
                    .first()
                    .and_then(|v| i64::try_from(v.clone()).ok())
                    .ok_or_else(|| bad("fromordinal() takes an integer"))?;
                NaiveDate::from_num_days_from_ce_opt(n as i32)
                    .map(|d| Value::from_object(PyDate(d)))
                    .ok_or_else(|| bad(format!("ordinal {n} is out of range")))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// `modules.datetime.timedelta(days, seconds, microseconds, milliseconds,
/// minutes, hours, weeks)`, positional or by keyword, fractions allowed.
fn timedelta(args: &[Value]) -> Result<Value, Error> {
    let (positional, kwargs) = super::values::split_kwargs(args);
    const NAMES: [(&str, f64); 7] = [
        ("days", 86_400e6),
        ("seconds", 1e6),
        ("microseconds", 1.0),
        ("milliseconds", 1e3),
        ("minutes", 60e6),
        ("hours", 3_600e6),
        ("weeks", 604_800e6),
    ];
    let mut micros = 0f64;
    for (i, (name, scale)) in NAMES.iter().enumerate() {
        let v = match positional.get(i) {
            Some(v) => Some(v.clone()),
            None => match &kwargs {
                Some(kw) => kw.get::<Option<Value>>(name)?,
                None => None,
            },
        };
        if let Some(v) = v {
            let n = f64::try_from(v.clone())
                .map_err(|_| bad(format!("timedelta(): {name} must be a number, got {v}")))?;
            micros += n * scale;
        }
    }
    if let Some(kw) = &kwargs {
        kw.assert_all_used()?;
    }
    Ok(PyTimeDelta::value(Duration::microseconds(
        micros.round() as i64
    )))
}

/// `modules.datetime.timedelta`, callable with keyword arguments.
#[derive(Debug)]
struct TimeDeltaClass;

impl Object for TimeDeltaClass {
    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        timedelta(args)
    }
}

/// `modules.datetime.timezone`: `timezone.utc` and `timezone(timedelta)`.
#[derive(Debug)]
struct TimezoneClass;

impl Object for TimezoneClass {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        (key.as_str()? == "utc").then(|| Value::from_object(PyTzInfo(Zone::Utc)))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }

    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let offset = duration_of(&args.first().cloned().unwrap_or_default())?;
        let secs = offset.num_seconds() as i32;
        Ok(Value::from_object(PyTzInfo(if secs == 0 {
            Zone::Utc
        } else {
            Zone::Fixed(secs)
        })))
    }
}

/// `modules.pytz`.
#[derive(Debug)]
struct PytzModule;

impl Object for PytzModule {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "utc" | "UTC" => Some(Value::from_object(PyTzInfo(Zone::Utc))),
            "all_timezones" | "common_timezones" => Some(Value::from(
                chrono_tz::TZ_VARIANTS
                    .iter()
                    .map(|t| t.name().to_string())
                    .collect::<Vec<_>>(),
            )),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["utc", "UTC", "all_timezones", "common_timezones"])
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "timezone" => {
                let name = args.first().map(Value::to_string).unwrap_or_default();
                Ok(Value::from_object(PyTzInfo(timezone(&name)?)))
            }
            "FixedOffset" => {
                let minutes = args
                    .first()
                    .and_then(|v| i64::try_from(v.clone()).ok())
                    .ok_or_else(|| bad("FixedOffset() takes minutes"))?;
                Ok(Value::from_object(PyTzInfo(Zone::Fixed(
                    minutes as i32 * 60,
                ))))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// `modules.datetime` (the module).
pub fn datetime_module() -> Value {
    super::values::map_value([
        ("datetime", Value::from_object(DateTimeClass)),
        ("date", Value::from_object(DateClass)),
        ("timedelta", Value::from_object(TimeDeltaClass)),
        ("timezone", Value::from_object(TimezoneClass)),
        ("MINYEAR", Value::from(1)),
        ("MAXYEAR", Value::from(9999)),
    ])
}

/// `modules.pytz`.
pub fn pytz_module() -> Value {
    Value::from_object(PytzModule)
}
