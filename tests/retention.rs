//! The retention example end to end (issue 8): generator → NDJSON →
//! `rdbt ingest` → `rdbt build` of the example project, then every column
//! of every gold mart checked against a second, independent implementation
//! of ../shared/spec/retention.md written here in Rust over the landed
//! rows (floats to 1e-9 relative, as the contract allows). Once with the
//! as-of date taken from the data, once with the `as_of_date` variable.

mod common;

use chrono::{Datelike, NaiveDate};
use common::rdbt_env;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Decimal128Type, Int64Type, TimestampMicrosecondType};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

#[derive(Debug, Clone)]
struct Event {
    event_id: String,
    event_type: String,
    micros: i64,
    customer: i64,
    order_id: String,
    city: Option<String>,
    amount: Option<i128>,
    discount: Option<i128>,
    minutes: Option<i64>,
    rating: Option<i64>,
    position: (i64, i64),
}

fn landed_events(project: &Path) -> Vec<Event> {
    let mut out = Vec::new();
    for entry in
        walkdir::WalkDir::new(project.join("target/rdbt/land/kafka/customer_activity_data"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
    {
        let bytes = bytes::Bytes::from(std::fs::read(entry.path()).expect("read"));
        for b in ParquetRecordBatchReaderBuilder::try_new(bytes)
            .expect("parquet")
            .build()
            .expect("reader")
        {
            let b = b.expect("batch");
            let s = |n: &str| b.column_by_name(n).expect(n).as_string::<i32>().clone();
            let i = |n: &str| {
                b.column_by_name(n)
                    .expect(n)
                    .as_primitive::<Int64Type>()
                    .clone()
            };
            let d = |n: &str| {
                b.column_by_name(n)
                    .expect(n)
                    .as_primitive::<Decimal128Type>()
                    .clone()
            };
            let (id, kind, order, city) =
                (s("event_id"), s("event_type"), s("order_id"), s("city"));
            let ts = b
                .column_by_name("event_ts")
                .expect("ts")
                .as_primitive::<TimestampMicrosecondType>()
                .clone();
            let (customer, minutes, rating, p, o) = (
                i("customer_id"),
                i("delivery_minutes"),
                i("rating"),
                i("_partition"),
                i("_offset"),
            );
            let (amount, discount) = (d("order_amount"), d("discount_amount"));
            for r in 0..b.num_rows() {
                let opt_i =
                    |a: &datafusion::arrow::array::Int64Array| (!a.is_null(r)).then(|| a.value(r));
                let opt_d = |a: &datafusion::arrow::array::Decimal128Array| {
                    (!a.is_null(r)).then(|| a.value(r))
                };
                out.push(Event {
                    event_id: id.value(r).to_string(),
                    event_type: kind.value(r).to_string(),
                    micros: ts.value(r),
                    customer: customer.value(r),
                    order_id: order.value(r).to_string(),
                    city: (!city.is_null(r)).then(|| city.value(r).to_string()),
                    amount: opt_d(&amount),
                    discount: opt_d(&discount),
                    minutes: opt_i(&minutes),
                    rating: opt_i(&rating),
                    position: (p.value(r), o.value(r)),
                });
            }
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Order {
    customer: i64,
    date: NaiveDate,
    /// Net amount at scale 9.
    net: i128,
    cancelled: bool,
    delivered: bool,
    minutes: Option<i64>,
    rating: Option<i64>,
    city: Option<String>,
}

/// Contract §2, from the landed rows.
fn orders(events: Vec<Event>) -> Vec<Order> {
    // Redeliveries: the first copy of an event_id in stream order.
    let mut first: HashMap<String, Event> = HashMap::new();
    for e in events {
        match first.get(&e.event_id) {
            Some(kept) if kept.position <= e.position => {}
            _ => {
                first.insert(e.event_id.clone(), e);
            }
        }
    }
    // The winner per order and type: earliest event_ts, then event_id.
    let mut winners: HashMap<(String, String), Event> = HashMap::new();
    for e in first.into_values() {
        let key = (e.order_id.clone(), e.event_type.clone());
        match winners.get(&key) {
            Some(w) if (w.micros, &w.event_id) <= (e.micros, &e.event_id) => {}
            _ => {
                winners.insert(key, e);
            }
        }
    }
    let get = |order: &str, kind: &str| winners.get(&(order.to_string(), kind.to_string()));
    let mut out = Vec::new();
    for ((order, kind), placed) in &winners {
        if kind != "order_placed" {
            continue;
        }
        let delivered = get(order, "order_delivered");
        let date = chrono::DateTime::from_timestamp_micros(placed.micros)
            .expect("ts")
            .date_naive();
        out.push(Order {
            customer: placed.customer,
            date,
            net: placed.amount.unwrap_or(0) - placed.discount.unwrap_or(0),
            cancelled: get(order, "order_cancelled").is_some(),
            delivered: delivered.is_some(),
            minutes: delivered.and_then(|d| d.minutes),
            rating: get(order, "review_submitted").and_then(|r| r.rating),
            city: placed.city.clone(),
        });
    }
    out
}

fn month(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).expect("month")
}
fn months_between(from: NaiveDate, to: NaiveDate) -> i64 {
    i64::from(to.year() * 12 + to.month() as i32)
        - i64::from(from.year() * 12 + from.month() as i32)
}
fn add_months(d: NaiveDate, n: i64) -> NaiveDate {
    let total = i64::from(d.year()) * 12 + i64::from(d.month0()) + n;
    NaiveDate::from_ymd_opt((total / 12) as i32, (total % 12) as u32 + 1, 1).expect("month")
}
fn rate(n: usize, d: usize) -> Value {
    if d == 0 {
        Value::Null
    } else {
        json!(n as f64 / d as f64)
    }
}
fn money(v: i128) -> f64 {
    v as f64 / 1e9
}
fn mean(values: impl Iterator<Item = f64>) -> Value {
    let v: Vec<f64> = values.collect();
    if v.is_empty() {
        Value::Null
    } else {
        json!(v.iter().sum::<f64>() / v.len() as f64)
    }
}
fn day(d: NaiveDate) -> Value {
    json!(d.format("%Y-%m-%d").to_string())
}

/// Every mart of contract §3, as rows keyed like rdbt's output.
fn expected_marts(
    all: &[Order],
    as_of_var: Option<NaiveDate>,
) -> BTreeMap<&'static str, Vec<Value>> {
    let as_of = as_of_var.unwrap_or_else(|| all.iter().map(|o| o.date).max().expect("orders"));
    let scope: Vec<&Order> = all.iter().filter(|o| o.date <= as_of).collect();
    let completed: Vec<&Order> = scope.iter().copied().filter(|o| !o.cancelled).collect();
    let as_of_month = month(as_of);
    let mut marts = BTreeMap::new();

    // 3.1
    let mut per_month: BTreeMap<NaiveDate, BTreeMap<i64, usize>> = BTreeMap::new();
    let mut revenue: BTreeMap<NaiveDate, i128> = BTreeMap::new();
    let mut first_month: BTreeMap<i64, NaiveDate> = BTreeMap::new();
    for o in &completed {
        *per_month
            .entry(month(o.date))
            .or_default()
            .entry(o.customer)
            .or_default() += 1;
        *revenue.entry(month(o.date)).or_default() += o.net;
        let f = first_month.entry(o.customer).or_insert(month(o.date));
        *f = (*f).min(month(o.date));
    }
    let empty = BTreeMap::new();
    let mut rows = Vec::new();
    if let Some(start) = per_month.keys().next().copied() {
        for k in 0..=months_between(start, as_of_month) {
            let m = add_months(start, k);
            let active = per_month.get(&m).unwrap_or(&empty);
            let previous = per_month.get(&add_months(m, -1)).unwrap_or(&empty);
            let retained = active.keys().filter(|c| previous.contains_key(c)).count();
            let new = active.keys().filter(|c| first_month[c] == m).count();
            let orders: usize = active.values().sum();
            let rev = revenue.get(&m).copied().unwrap_or(0);
            rows.push(json!({
                "month": day(m),
                "active_customers": active.len(),
                "new_customers": new,
                "returning_customers": active.len() - new,
                "retained_customers": retained,
                "churned_customers": previous.len() - retained,
                "churn_rate": rate(previous.len() - retained, previous.len()),
                "retention_rate": rate(retained, previous.len()),
                "repeat_purchase_rate": rate(active.values().filter(|n| **n >= 2).count(), active.len()),
                "orders": orders,
                "revenue": money(rev),
                "avg_order_value": if orders == 0 { Value::Null } else { json!(money(rev) / orders as f64) },
            }));
        }
    }
    marts.insert("mart_retention_monthly", rows);

    // 3.2 and 3.4
    let mut by_customer: BTreeMap<i64, Vec<&Order>> = BTreeMap::new();
    for o in &completed {
        by_customer.entry(o.customer).or_default().push(o);
    }
    let mut clv = Vec::new();
    let mut rfm = Vec::new();
    for (c, list) in &by_customer {
        let first = list.iter().map(|o| o.date).min().expect("first");
        let last = list.iter().map(|o| o.date).max().expect("last");
        let total: i128 = list.iter().map(|o| o.net).sum();
        let n = list.len();
        let aov = money(total) / n as f64;
        let span = (months_between(month(first), as_of_month) + 1).max(1);
        let opm = n as f64 / span as f64;
        clv.push(json!({
            "customer_id": c,
            "first_order_date": day(first),
            "last_order_date": day(last),
            "orders": n,
            "total_revenue": money(total),
            "avg_order_value": aov,
            "tenure_days": (last - first).num_days(),
            "active_months": list.iter().map(|o| month(o.date)).collect::<BTreeSet<_>>().len(),
            "orders_per_month": opm,
            "projected_revenue_12m": aov * opm * 12.0,
        }));
        rfm.push((*c, (as_of - last).num_days(), n, total));
    }
    marts.insert("mart_customer_lifetime_value", clv);
    let ntile = |mut order: Vec<(i64, usize)>| -> HashMap<i64, i64> {
        // `order` is (customer, position key) sorted already.
        let n = order.len();
        let (base, extra) = (n / 5, n % 5);
        let mut out = HashMap::new();
        let mut at = 0;
        for bucket in 1..=5 {
            let size = base + usize::from(bucket <= extra);
            for (c, _) in order.drain(..size.min(order.len())) {
                out.insert(c, bucket as i64);
                at += 1;
            }
        }
        let _ = at;
        out
    };
    let mut by_recency: Vec<_> = rfm.clone();
    by_recency.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let r = ntile(by_recency.iter().map(|x| (x.0, 0)).collect());
    let mut by_frequency = rfm.clone();
    by_frequency.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)));
    let f = ntile(by_frequency.iter().map(|x| (x.0, 0)).collect());
    let mut by_money = rfm.clone();
    by_money.sort_by(|a, b| a.3.cmp(&b.3).then(a.0.cmp(&b.0)));
    let m = ntile(by_money.iter().map(|x| (x.0, 0)).collect());
    let mut segments = Vec::new();
    let mut risk_of = HashMap::new();
    for (c, recency, frequency, monetary) in &rfm {
        let (rs, fs) = (r[c], f[c]);
        let segment = if rs >= 4 && fs >= 4 {
            "champions"
        } else if rs >= 3 && fs >= 3 {
            "loyal"
        } else if rs >= 4 && fs <= 2 {
            "new"
        } else if rs <= 2 && fs >= 3 {
            "at_risk"
        } else if rs <= 2 && fs <= 2 {
            "hibernating"
        } else {
            "needs_attention"
        };
        let risk = if *recency > 60 {
            "high"
        } else if *recency > 30 {
            "medium"
        } else {
            "low"
        };
        risk_of.insert(*c, risk);
        segments.push(json!({
            "customer_id": c, "recency_days": recency, "frequency": frequency,
            "monetary": money(*monetary), "r_score": rs, "f_score": fs, "m_score": m[c],
            "segment": segment, "churn_risk": risk,
        }));
    }
    marts.insert("mart_customer_segments", segments);

    // 3.3
    let mut cohorts: BTreeMap<NaiveDate, BTreeSet<i64>> = BTreeMap::new();
    for (c, f) in &first_month {
        cohorts.entry(*f).or_default().insert(*c);
    }
    let mut rows = Vec::new();
    for (cohort, members) in &cohorts {
        for k in 0..=months_between(*cohort, as_of_month) {
            let active = per_month
                .get(&add_months(*cohort, k))
                .map_or(0, |a| members.iter().filter(|c| a.contains_key(c)).count());
            rows.push(json!({
                "cohort_month": day(*cohort), "months_since_first": k, "cohort_size": members.len(),
                "active_customers": active, "retention_rate": rate(active, members.len()),
            }));
        }
    }
    marts.insert("mart_cohort_retention", rows);

    // 3.5
    let mut weeks: BTreeMap<NaiveDate, BTreeMap<i64, usize>> = BTreeMap::new();
    for o in &completed {
        let monday =
            o.date - chrono::Duration::days(i64::from(o.date.weekday().num_days_from_monday()));
        *weeks
            .entry(monday)
            .or_default()
            .entry(o.customer)
            .or_default() += 1;
    }
    marts.insert(
        "mart_weekly_repeat_purchase",
        weeks
            .iter()
            .map(|(w, per)| {
                let repeat = per.values().filter(|n| **n >= 2).count();
                json!({
                    "week_start": day(*w), "active_customers": per.len(), "repeat_customers": repeat,
                    "repeat_purchase_rate": rate(repeat, per.len()), "orders": per.values().sum::<usize>(),
                })
            })
            .collect(),
    );

    // 3.6
    let mut cells: BTreeMap<(NaiveDate, Option<String>), Vec<&Order>> = BTreeMap::new();
    for o in &scope {
        cells
            .entry((month(o.date), o.city.clone()))
            .or_default()
            .push(o);
    }
    marts.insert(
        "mart_delivery_experience",
        cells
            .iter()
            .map(|((m, city), list)| {
                let cancelled = list.iter().filter(|o| o.cancelled).count();
                let delivered: Vec<&&Order> = list.iter().filter(|o| o.delivered).collect();
                let rated: Vec<i64> = list.iter().filter_map(|o| o.rating).collect();
                json!({
                    "month": day(*m), "city": city, "orders": list.len(), "cancelled_orders": cancelled,
                    "cancellation_rate": rate(cancelled, list.len()), "delivered_orders": delivered.len(),
                    "avg_delivery_minutes": mean(delivered.iter().filter_map(|o| o.minutes).map(|x| x as f64)),
                    "reviewed_orders": rated.len(), "avg_rating": mean(rated.iter().map(|x| *x as f64)),
                    "low_rating_share": rate(rated.iter().filter(|r| **r <= 2).count(), rated.len()),
                })
            })
            .collect(),
    );

    // 3.7
    let mut all_by_customer: BTreeMap<i64, Vec<&Order>> = BTreeMap::new();
    for o in &scope {
        all_by_customer.entry(o.customer).or_default().push(o);
    }
    let mut levels: BTreeMap<&str, Vec<(Value, Value, Value, Value)>> = BTreeMap::new();
    for (c, risk) in &risk_of {
        let list = &all_by_customer[c];
        let delivered: Vec<&&Order> = list.iter().filter(|o| o.delivered).collect();
        let late = delivered
            .iter()
            .filter(|o| o.minutes.is_some_and(|m| m > 40))
            .count();
        let rated: Vec<f64> = list
            .iter()
            .filter_map(|o| o.rating)
            .map(|r| r as f64)
            .collect();
        levels.entry(risk).or_default().push((
            mean(delivered.iter().filter_map(|o| o.minutes).map(|x| x as f64)),
            rate(late, delivered.len()),
            mean(rated.into_iter()),
            rate(list.iter().filter(|o| o.cancelled).count(), list.len()),
        ));
    }
    let avg = |vals: Vec<&Value>| mean(vals.into_iter().filter_map(Value::as_f64));
    marts.insert(
        "mart_churn_drivers",
        levels
            .iter()
            .map(|(risk, per)| {
                json!({
                    "churn_risk": risk, "customers": per.len(),
                    "avg_delivery_minutes": avg(per.iter().map(|p| &p.0).collect()),
                    "late_delivery_share": avg(per.iter().map(|p| &p.1).collect()),
                    "avg_rating": avg(per.iter().map(|p| &p.2).collect()),
                    "cancellation_rate": avg(per.iter().map(|p| &p.3).collect()),
                })
            })
            .collect(),
    );
    marts
}

fn same(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (
                e.as_f64().unwrap_or(f64::NAN),
                a.as_f64().unwrap_or(f64::NAN),
            );
            e == a || (e - a).abs() <= 1e-9 * e.abs().max(a.abs())
        }
        (e, a) => e == a,
    }
}

fn key(row: &Value, columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| row[*c].to_string())
        .collect::<Vec<_>>()
        .join("|")
}

fn check_marts(dir: &Path, expected: &BTreeMap<&'static str, Vec<Value>>, vars: &[&str]) {
    let keys: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("mart_retention_monthly", vec!["month"]),
        ("mart_customer_lifetime_value", vec!["customer_id"]),
        (
            "mart_cohort_retention",
            vec!["cohort_month", "months_since_first"],
        ),
        ("mart_customer_segments", vec!["customer_id"]),
        ("mart_weekly_repeat_purchase", vec!["week_start"]),
        ("mart_delivery_experience", vec!["month", "city"]),
        ("mart_churn_drivers", vec!["churn_risk"]),
    ]);
    for (mart, rows) in expected {
        let mut args = vec!["show", "-s", mart, "--limit", "0", "--output", "json"];
        args.extend_from_slice(vars);
        let run = rdbt_env(dir, &args, &[]);
        assert_eq!(run.code, 0, "{}", run.transcript());
        let actual: Vec<Value> = serde_json::from_str(&run.stdout).expect("json rows");
        let columns = &keys[mart];
        let by_key: HashMap<String, &Value> = actual.iter().map(|r| (key(r, columns), r)).collect();
        assert_eq!(actual.len(), rows.len(), "{mart}: row count");
        for row in rows {
            let k = key(row, columns);
            let got = by_key
                .get(&k)
                .unwrap_or_else(|| panic!("{mart}: no row {k}"));
            for (column, value) in row.as_object().expect("object") {
                assert!(
                    same(value, &got[column]),
                    "{mart} row {k} column {column}: expected {value}, rdbt gave {}",
                    got[column]
                );
            }
            // rdbt's JSON leaves NULL columns out of a row; none may be extra.
            let extra: Vec<&String> = got
                .as_object()
                .map(|o| o.keys().filter(|k| row.get(k.as_str()).is_none()).collect())
                .unwrap_or_default();
            assert!(
                extra.is_empty(),
                "{mart}: columns the contract does not have: {extra:?}"
            );
        }
    }
}

/// `rdbt produce <what> -o events.jsonl`, then those events landed into the
/// Kafka source with `rdbt ingest --from-file`.
fn produce_and_land(dir: &Path, what: &[&str], env: &[(&str, &str)]) {
    let events = dir.join("events.jsonl").to_string_lossy().to_string();
    let mut produce = vec!["produce"];
    produce.extend_from_slice(what);
    produce.extend_from_slice(&["-o", &events]);
    let run = rdbt_env(dir, &produce, &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let ingest = [
        "ingest",
        "-s",
        "source:kafka.customer_activity_data",
        "--from-file",
        &events,
    ];
    let run = rdbt_env(dir, &ingest, env);
    assert_eq!(run.code, 0, "{}", run.transcript());
}

#[test]
fn the_gold_marts_match_an_independent_implementation_of_the_contract() {
    let dir = common::example_project();
    produce_and_land(dir.path(), &["--customers", "300", "--seed", "11"], &[]);
    // The marts need only the events: build them and their parents, with
    // the tests whose parents are all built.
    let build = [
        "build",
        "-s",
        "+tag:gold",
        "--exclude",
        "source:postgres+",
        "--indirect-selection",
        "cautious",
    ];
    let run = rdbt_env(dir.path(), &build, &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let orders = orders(landed_events(dir.path()));
    assert!(orders.len() > 3000, "{} orders", orders.len());
    check_marts(dir.path(), &expected_marts(&orders, None), &[]);

    // The as_of_date variable cuts every mart at that day.
    let vars = ["--vars", "{as_of_date: '2024-11-20'}"];
    let mut args = build.to_vec();
    args.extend_from_slice(&vars);
    let run = rdbt_env(dir.path(), &args, &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let as_of = NaiveDate::from_ymd_opt(2024, 11, 20);
    check_marts(dir.path(), &expected_marts(&orders, as_of), &vars);
}

/// The README's first command on a fresh copy: a sample landed with no
/// services, then every seed, model, data test and unit test passes.
#[test]
fn a_fresh_copy_builds_from_the_sample_and_passes_every_test() {
    let dir = common::example_project();
    let run = rdbt_env(dir.path(), &["ingest", "--sample", "120"], &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("Landed postgres.customers: 120 messages"),
        "{}",
        run.stdout
    );
    let run = rdbt_env(dir.path(), &["build"], &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("ERROR=0 SKIP=0"), "{}", run.stdout);
    // Landing the same sample again lands nothing twice.
    let again = rdbt_env(dir.path(), &["ingest", "--sample", "120"], &[]);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert!(again.stdout.contains("landed before"), "{}", again.stdout);

    // A development copy seeded from this "production" by `rdbt clone`:
    // every table a zero-copy clone (its files are production's, linked),
    // every view the same view.
    let state = dir.path().join("target/rdbt");
    let state_arg = state.to_str().expect("utf-8 path");
    let dev = common::example_project();
    let clone = rdbt_env(dev.path(), &["clone", "--state", state_arg], &[]);
    assert_eq!(clone.code, 0, "{}", clone.transcript());
    let cloned = clone
        .stdout
        .lines()
        .filter(|l| l.contains(": CLONE ") || l.contains(": CREATE VIEW"))
        .count();
    assert!(
        clone.stdout.contains(&format!("Cloned {cloned}, kept 0")) && cloned >= 17,
        "{}",
        clone.stdout
    );
    let inodes = |warehouse: &Path| -> BTreeSet<u64> {
        use std::os::unix::fs::MetadataExt;
        walkdir(warehouse)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .map(|p| std::fs::metadata(&p).expect("meta").ino())
            .collect()
    };
    let dev_files = inodes(&dev.path().join("target/rdbt/warehouse"));
    assert!(!dev_files.is_empty());
    assert!(
        dev_files.is_subset(&inodes(&state.join("warehouse"))),
        "the clones wrote data files of their own"
    );
    let show = |d: &Path| {
        rdbt_env(
            d,
            &[
                "show",
                "-q",
                "-s",
                "mart_retention_monthly",
                "--limit",
                "0",
                "-o",
                "json",
            ],
            &[],
        )
        .stdout
    };
    assert_eq!(show(dev.path()), show(dir.path()));

    // --defer: one changed model built in an empty development target
    // against production's relations.
    let dev = common::example_project();
    let model = dev.path().join("models/gold/mart_retention_monthly.sql");
    let sql = std::fs::read_to_string(&model).expect("model");
    std::fs::write(&model, format!("{sql}\n-- a development change\n")).expect("write");
    let build = rdbt_env(
        dev.path(),
        &[
            "build",
            "-s",
            "mart_retention_monthly",
            "--defer",
            "--state",
            state_arg,
        ],
        &[],
    );
    assert_eq!(build.code, 0, "{}", build.transcript());
    assert!(build.stdout.contains("ERROR=0 SKIP=0"), "{}", build.stdout);
    let compiled = std::fs::read_to_string(
        dev.path()
            .join("target/rdbt/run/retention/models/gold/mart_retention_monthly.sql"),
    )
    .expect("compiled");
    assert!(
        compiled.contains("rdbt_state`.`analytics_silver"),
        "{compiled}"
    );
    let without = rdbt_env(dev.path(), &["build", "-s", "mart_retention_monthly"], &[]);
    assert_eq!(without.code, 1, "without --defer its parents are missing");
}

/// Every file under `dir`.
fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The real exports through every stage of the old stack's replacement:
/// the survey loaded into a real Postgres `customers` table and pulled by
/// `rdbt ingest`, the orders export replayed as events and landed, then
/// the whole project built and tested, and the marts checked against the
/// independent implementation. A second pull after an update and a delete
/// reaches `dim_customer` on the next build.
#[test]
fn the_real_exports_flow_from_postgres_and_events_to_gold() {
    let Some(server) = common::postgres::server() else {
        return;
    };
    let (Some(orders_dir), Some(survey_dir)) = (
        common::shared_data("food_delivery_orders.csv"),
        common::shared_data("online_delivery_customers.csv"),
    ) else {
        return;
    };
    let url = common::postgres::fresh_database(&server, "rdbt_e2e_retention");
    let survey = survey_dir.join("online_delivery_customers.csv");
    assert_eq!(
        common::postgres::load_survey(&url, "public.customers", &survey),
        388
    );
    let env = [("CUSTOMERS_DATABASE_URL", url.as_str())];

    let dir = common::example_project();
    let csv = orders_dir.join("food_delivery_orders.csv");
    produce_and_land(
        dir.path(),
        &["--from-orders-csv", &csv.to_string_lossy()],
        &env,
    );
    let pull = ["ingest", "-s", "source:postgres.customers"];
    let run = rdbt_env(dir.path(), &pull, &env);
    assert_eq!(run.code, 0, "{}", run.transcript());

    let run = rdbt_env(dir.path(), &["build"], &env);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("ERROR=0 SKIP=0"), "{}", run.stdout);
    let orders = orders(landed_events(dir.path()));
    assert!(orders.len() > 10_000, "{} orders", orders.len());
    check_marts(dir.path(), &expected_marts(&orders, None), &[]);
    let known = common::rows(
        dir.path(),
        "select count(*) as n from {{ ref('dim_customer') }} where in_customers_table",
    );
    assert_eq!(known[0]["n"], json!(388));

    assert!(orders.iter().any(|o| o.customer == 8));
    // Customer 7 changes occupation, customer 8 is deleted: the next pull
    // lands both and the next build shows them.
    common::postgres::sql(
        &url,
        "UPDATE customers SET occupation = 'Retired', updated_at = now() WHERE customer_id = 7;
         DELETE FROM customers WHERE customer_id = 8;",
    );
    let run = rdbt_env(dir.path(), &pull, &env);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let run = rdbt_env(dir.path(), &["build", "-s", "+dim_customer"], &env);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let changed = common::rows(
        dir.path(),
        "select customer_id, occupation, in_customers_table from {{ ref('dim_customer') }} where customer_id in (7, 8) order by customer_id",
    );
    assert_eq!(changed[0]["occupation"], json!("Retired"), "{changed:?}");
    // Customer 8 placed orders, so it stays a customer, now unknown to the table.
    assert_eq!(
        changed[1]["in_customers_table"],
        json!(false),
        "{changed:?}"
    );
}
