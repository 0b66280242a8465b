//! Dashboards as code: the `charts:` of an exposure, what each one reads
//! from the warehouse, and the series the site draws.
//!
//! ```yaml
//! charts:
//!   - title: Monthly churn
//!     type: line            # line | bar | heatmap | table
//!     model: mart_retention_monthly
//!     columns: [month, churn_rate, retention_rate]   # x, then one series per column
//!   - {type: heatmap, model: mart_cohort_retention, columns: [months_since_first, cohort_month, retention_rate]}
//!   - {type: bar, model: mart_customer_lifetime_value, columns: [projected_revenue_12m], bins: 20}
//! ```
//!
//! A bar chart with one column counts its values (or, with `bins`, buckets
//! them); with more, the first is the category and the others the bars.

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    Line,
    Bar,
    Heatmap,
    Table,
}

impl ChartKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "line" => ChartKind::Line,
            "bar" => ChartKind::Bar,
            "heatmap" => ChartKind::Heatmap,
            "table" => ChartKind::Table,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChartKind::Line => "line",
            ChartKind::Bar => "bar",
            ChartKind::Heatmap => "heatmap",
            ChartKind::Table => "table",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChartSpec {
    pub title: String,
    pub kind: ChartKind,
    pub model: String,
    pub columns: Vec<String>,
    pub bins: Option<usize>,
    /// Rows read at most (the page draws them all).
    pub limit: usize,
}

/// The charts of an exposure (its `charts:` key), or what is wrong with
/// them, naming the chart and the key.
pub fn charts_of(extra: &Map<String, Value>) -> Result<Vec<ChartSpec>, String> {
    let Some(list) = extra.get("charts") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or("`charts` must be a list of charts (title, type, model, columns)")?;
    list.iter()
        .enumerate()
        .map(|(i, c)| chart(c).map_err(|e| format!("chart {} of `charts`: {e}", i + 1)))
        .collect()
}

fn chart(c: &Value) -> Result<ChartSpec, String> {
    let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    let kind_text = text("type").ok_or("`type` is missing (line, bar, heatmap or table)")?;
    let kind = ChartKind::parse(&kind_text)
        .ok_or_else(|| format!("type `{kind_text}` is not one of line, bar, heatmap, table"))?;
    let model = text("model").ok_or("`model` is missing: name the model the chart reads")?;
    let columns: Vec<String> = match c.get("columns") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or("`columns` must be a list of column names")
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) => vec![s.clone()],
        _ => return Err("`columns` is missing: list the columns it draws".into()),
    };
    let needed = match kind {
        ChartKind::Line => 2,
        ChartKind::Heatmap => 3,
        ChartKind::Bar | ChartKind::Table => 1,
    };
    if columns.len() < needed || (kind == ChartKind::Heatmap && columns.len() != 3) {
        return Err(match kind {
            ChartKind::Line => "a line chart needs `columns: [x, series, ...]`".into(),
            ChartKind::Heatmap => "a heatmap needs `columns: [x, y, value]`".into(),
            _ => "`columns` is empty".into(),
        });
    }
    let bins = match c.get("bins") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| (1..=200).contains(n))
                .ok_or("`bins` must be a whole number from 1 to 200")? as usize,
        ),
    };
    let limit = match c.get("limit") {
        None => 50_000,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or("`limit` must be a whole number from 1 to 1000000")? as usize,
    };
    Ok(ChartSpec {
        title: text("title").unwrap_or_else(|| model.clone()),
        kind,
        model,
        columns,
        bins,
        limit,
    })
}

/// The query a chart runs on `relation`, with identifiers quoted by the
/// warehouse's `quote`.
pub fn query(spec: &ChartSpec, relation: &str, quote: &dyn Fn(&str) -> String) -> String {
    let columns = spec
        .columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let order = match spec.kind {
        ChartKind::Line | ChartKind::Heatmap => format!(" order by {}", quote(&spec.columns[0])),
        _ => String::new(),
    };
    format!(
        "select {columns} from {relation}{order} limit {}",
        spec.limit
    )
}

/// The data a page draws: `columns` and `rows` (arrays), reduced for a bar
/// chart over one column to counts per value or per bucket.
pub fn shape(spec: &ChartSpec, rows: Vec<Vec<Value>>) -> Value {
    let mut columns = spec.columns.clone();
    let rows = if spec.kind == ChartKind::Bar && spec.columns.len() == 1 {
        columns = vec![spec.columns[0].clone(), "count".into()];
        match spec.bins {
            Some(bins) => histogram(&rows, bins),
            None => counts(&rows),
        }
    } else {
        rows
    };
    json!({
        "title": spec.title,
        "type": spec.kind.as_str(),
        "model": spec.model,
        "columns": columns,
        "rows": rows,
    })
}

fn counts(rows: &[Vec<Value>]) -> Vec<Vec<Value>> {
    let mut by_value: std::collections::BTreeMap<String, (Value, u64)> = Default::default();
    for r in rows {
        let v = r.first().cloned().unwrap_or(Value::Null);
        by_value.entry(v.to_string()).or_insert((v, 0)).1 += 1;
    }
    by_value
        .into_values()
        .map(|(v, n)| vec![v, json!(n)])
        .collect()
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Equal-width buckets labelled by their range; NULLs are left out.
fn histogram(rows: &[Vec<Value>], bins: usize) -> Vec<Vec<Value>> {
    let values: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.first().and_then(number))
        .filter(|f| f.is_finite())
        .collect();
    let (Some(min), Some(max)) = (
        values.iter().copied().reduce(f64::min),
        values.iter().copied().reduce(f64::max),
    ) else {
        return Vec::new();
    };
    let width = if max > min {
        (max - min) / bins as f64
    } else {
        1.0
    };
    let mut counts = vec![0u64; bins];
    for v in values {
        let i = (((v - min) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let lo = min + width * i as f64;
            vec![
                json!(format!("{} – {}", short(lo), short(lo + width))),
                json!(n),
            ]
        })
        .collect()
}

fn short(f: f64) -> String {
    if f.abs() >= 1000.0 {
        format!("{:.0}", f)
    } else if f.abs() >= 10.0 {
        format!("{:.1}", f)
    } else {
        format!("{:.2}", f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Value) -> Result<Vec<ChartSpec>, String> {
        charts_of(v.as_object().unwrap())
    }

    #[test]
    fn charts_are_read_and_bad_ones_are_named() {
        let ok = spec(json!({"charts": [{"type": "line", "model": "m", "columns": ["x", "y"]}]}))
            .unwrap();
        assert_eq!(ok[0].title, "m");
        assert_eq!(ok[0].limit, 50_000);
        let err = spec(json!({"charts": [
            {"type": "line", "model": "m", "columns": ["x", "y"]},
            {"type": "pie", "model": "m", "columns": ["x"]}
        ]}))
        .unwrap_err();
        assert_eq!(
            err,
            "chart 2 of `charts`: type `pie` is not one of line, bar, heatmap, table"
        );
        let err =
            spec(json!({"charts": [{"type": "heatmap", "model": "m", "columns": ["x", "y"]}]}))
                .unwrap_err();
        assert!(err.contains("[x, y, value]"), "{err}");
        assert!(spec(json!({})).unwrap().is_empty());
    }

    #[test]
    fn bars_over_one_column_count_or_bucket_it() {
        let s =
            &spec(json!({"charts": [{"type": "bar", "model": "m", "columns": ["v"], "bins": 2}]}))
                .unwrap()[0];
        let rows = vec![
            vec![json!(0.0)],
            vec![json!(1.0)],
            vec![json!(10.0)],
            vec![Value::Null],
        ];
        let shaped = shape(s, rows.clone());
        assert_eq!(
            shaped["rows"],
            json!([["0.00 – 5.00", 2], ["5.00 – 10.0", 1]])
        );
        let mut plain = s.clone();
        plain.bins = None;
        assert_eq!(shape(&plain, rows)["rows"][0], json!([0.0, 1]));
        assert_eq!(
            query(&plain, "t", &|c| format!("\"{c}\"")),
            "select \"v\" from t limit 50000"
        );
    }
}
