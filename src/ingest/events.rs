//! Contract events (retention.md §1.1) for demos, tests and benchmarks: a
//! deterministic synthetic generator, and a replay of the real
//! `food_delivery_orders.csv` export. What the old stack's streaming
//! container did, as messages `(key, value)` ready for a file or a topic.
//!
//! The generator's world: customers sign up over the first 12 of 18 months
//! (from 2024-01-01), order at their own rate (1 to 3 a month) until they
//! churn (a 7% monthly hazard, so retention decays), about 20 orders each.
//! 5% of orders are cancelled, the rest delivered, 60% of delivered orders
//! are reviewed. About 1% of events are delivered twice (at-least-once),
//! a few of those with changed content, and about 0.1% of messages are bad,
//! cycling through every kind the contract names.

use serde_json::{Value, json};

/// A message: key (the customer id) and value (one JSON line).
pub type Event = (Option<Vec<u8>>, Vec<u8>);

use crate::rng::Rng;

/// The restaurants of `seeds/restaurants.csv` (id, city).
const RESTAURANTS: &[(i64, &str)] = &[
    (1, "Bangalore"),
    (2, "Bangalore"),
    (3, "Coimbatore"),
    (4, "Mumbai"),
    (5, "Chennai"),
    (6, "Hyderabad"),
    (7, "Kolkata"),
    (8, "Delhi"),
    (9, "Pune"),
    (10, "Jaipur"),
];
const ORDER_TYPES: &[&str] = &["Meal", "Snack", "Drinks", "Buffet"];
const PAYMENTS: &[&str] = &["card", "cash", "wallet", "upi"];
const WEATHER: &[&str] = &["Sunny", "Cloudy", "Fog", "Stormy", "Sandstorms", "Windy"];
const TRAFFIC: &[&str] = &["Low", "Medium", "High", "Jam"];
const VEHICLES: &[&str] = &["motorcycle", "scooter", "electric_scooter", "bicycle"];
const CANCEL_REASONS: &[&str] = &[
    "changed_mind",
    "too_slow",
    "restaurant_closed",
    "payment_failed",
];
const REVIEWS: &[&str] = &[
    "",
    "Great food",
    "Cold on arrival",
    "Late again",
    "Loved it",
    "ok",
];

/// 2024-01-01T00:00:00Z in seconds.
const START: i64 = 1_704_067_200;
const DAY: i64 = 86_400;
/// 18 months of 30.44 days.
const SPAN_DAYS: f64 = 548.0;

fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn money(cents: u64) -> Value {
    // Two decimals exactly as JSON numbers: 1234 → 12.34.
    serde_json::from_str(&format!("{}.{:02}", cents / 100, cents % 100)).unwrap_or(Value::Null)
}

/// Timestamped events before duplicates and bad messages are mixed in.
struct Timed {
    at: i64,
    customer: i64,
    value: Value,
}

/// Generates the synthetic stream for `customers` customers.
pub fn synthetic(customers: u64, seed: u64) -> Vec<Event> {
    let mut rng = Rng(seed ^ 0x5EED_0000_0000_0000);
    let mut timed = Vec::with_capacity(customers as usize * 55);
    let mut event_seq: u64 = 0;
    let mut next_event_id = |rng: &mut Rng| {
        event_seq += 1;
        format!("ev-{:012x}-{:08x}", event_seq, rng.next() as u32)
    };
    let end = START + (SPAN_DAYS * DAY as f64) as i64;
    let mut order_seq: u64 = 0;
    for customer in 1..=customers as i64 {
        let signup = START + (rng.unit() * 365.0 * DAY as f64) as i64;
        let monthly_rate = 1.0 + 2.0 * rng.unit();
        // Geometric lifetime in months with a 7% monthly churn hazard.
        let lifetime_months = (rng.unit().max(1e-12).ln() / (1.0f64 - 0.07).ln()).ceil();
        let stop = (signup + (lifetime_months * 30.44 * DAY as f64) as i64).min(end);
        let home = rng.pick(RESTAURANTS).1;
        let mut t = signup;
        loop {
            // Exponential gaps: a Poisson process at the customer's rate.
            let gap_days = -rng.unit().max(1e-12).ln() * 30.44 / monthly_rate;
            t += (gap_days * DAY as f64) as i64 + 1;
            if t >= stop {
                break;
            }
            order_seq += 1;
            let order_id = format!("ORD-{order_seq:09}");
            let local: Vec<&(i64, &str)> = RESTAURANTS.iter().filter(|(_, c)| *c == home).collect();
            let restaurant = if rng.chance(0.8) {
                **rng.pick(&local)
            } else {
                *rng.pick(RESTAURANTS)
            };
            let amount = 300 + rng.below(5_700);
            let discount = if rng.chance(0.3) {
                amount * (5 + rng.below(16)) / 100
            } else {
                0
            };
            timed.push(Timed {
                at: t,
                customer,
                value: json!({
                    "event_id": next_event_id(&mut rng),
                    "event_type": "order_placed",
                    "event_ts": rfc3339(t),
                    "customer_id": customer,
                    "order_id": order_id,
                    "restaurant_id": restaurant.0,
                    "city": restaurant.1,
                    "order_type": rng.pick(ORDER_TYPES),
                    "order_amount": money(amount),
                    "discount_amount": money(discount),
                    "delivery_fee": money(rng.below(600)),
                    "payment_method": rng.pick(PAYMENTS),
                }),
            });
            if rng.chance(0.05) {
                let at = t + 60 + rng.below(900) as i64;
                timed.push(Timed {
                    at,
                    customer,
                    value: json!({
                        "event_id": next_event_id(&mut rng),
                        "event_type": "order_cancelled",
                        "event_ts": rfc3339(at),
                        "customer_id": customer,
                        "order_id": order_id,
                        "cancel_reason": rng.pick(CANCEL_REASONS),
                    }),
                });
                continue;
            }
            let traffic = rng.below(TRAFFIC.len() as u64) as usize;
            let minutes = 12 + rng.below(20) as i64 + 8 * traffic as i64;
            let delivered = t + minutes * 60;
            timed.push(Timed {
                at: delivered,
                customer,
                value: json!({
                    "event_id": next_event_id(&mut rng),
                    "event_type": "order_delivered",
                    "event_ts": rfc3339(delivered),
                    "customer_id": customer,
                    "order_id": order_id,
                    "delivery_person_id": format!("DP{:04}", rng.below(400)),
                    "delivery_minutes": minutes,
                    "weather": rng.pick(WEATHER),
                    "traffic_density": TRAFFIC[traffic],
                    "vehicle_type": rng.pick(VEHICLES),
                    "multiple_deliveries": rng.below(4),
                    "festival": rng.chance(0.05),
                }),
            });
            if rng.chance(0.6) {
                let at = delivered + 600 + rng.below(2 * DAY as u64) as i64;
                // Slow deliveries get worse ratings.
                let rating = (5 - (minutes - 12) / 12 - rng.below(2) as i64).clamp(1, 5);
                timed.push(Timed {
                    at,
                    customer,
                    value: json!({
                        "event_id": next_event_id(&mut rng),
                        "event_type": "review_submitted",
                        "event_ts": rfc3339(at),
                        "customer_id": customer,
                        "order_id": order_id,
                        "rating": rating,
                        "review_text": rng.pick(REVIEWS),
                    }),
                });
            }
        }
    }
    timed.sort_by(|a, b| a.at.cmp(&b.at).then(a.customer.cmp(&b.customer)));
    let mut out: Vec<Event> = Vec::with_capacity(timed.len() + timed.len() / 50);
    let mut redeliveries: Vec<(usize, Event)> = Vec::new();
    let mut bad_kind = 0usize;
    for (i, e) in timed.iter().enumerate() {
        let key = Some(e.customer.to_string().into_bytes());
        let line = e.value.to_string().into_bytes();
        out.push((key.clone(), line.clone()));
        if rng.chance(0.01) {
            // Redelivered a little later; one in twenty with changed content
            // (the first copy in stream order wins).
            let mut again = line;
            if rng.chance(0.05) {
                let mut v = e.value.clone();
                v["review_text"] = json!("edited");
                again = v.to_string().into_bytes();
            }
            redeliveries.push((i + 1 + rng.below(50) as usize, (key.clone(), again)));
        }
        while let Some(pos) = redeliveries.iter().position(|(at, _)| *at <= i) {
            out.push(redeliveries.swap_remove(pos).1);
        }
        if rng.chance(0.001) {
            out.push((key, bad_message(bad_kind, &e.value)));
            bad_kind += 1;
        }
    }
    out.extend(redeliveries.into_iter().map(|(_, e)| e));
    out
}

/// The contract's bad kinds, in turn.
fn bad_message(kind: usize, good: &Value) -> Vec<u8> {
    let mut v = good.clone();
    let text = match kind % 10 {
        0 => format!("{},", &good.to_string()[..good.to_string().len() - 1]) + "}",
        1 => good.to_string().replacen(':', ":NaN,\"x\":", 1),
        2 => good.to_string().replace('"', "'"),
        3 => format!("[{good}]"),
        4 => {
            v.as_object_mut().map(|o| o.remove("customer_id"));
            v.to_string()
        }
        5 => {
            v["order_id"] = Value::Null;
            v.to_string()
        }
        6 => {
            v["customer_id"] = json!(v["customer_id"].to_string());
            v.to_string()
        }
        7 => {
            v["customer_id"] = json!(v["customer_id"].as_f64().unwrap_or(1.0) + 0.5);
            v.to_string()
        }
        8 => {
            v["event_type"] = json!("order_teleported");
            v.to_string()
        }
        _ => {
            let ts = v["event_ts"]
                .as_str()
                .unwrap_or_default()
                .replace('Z', "+05:30");
            v["event_ts"] = json!(ts);
            v.to_string()
        }
    };
    text.into_bytes()
}

/// Rows of the customers table (contract §1.2) for the customers
/// `synthetic` invents, as JSON lines: deterministic survey-like answers,
/// signed up over 2023, last changed 2025-07-01. `_pulled_at` and
/// `_deleted` are what a pull would add, so the rows land as pulled ones.
pub fn synthetic_customers(customers: u64, seed: u64) -> Vec<Vec<u8>> {
    const GENDERS: &[&str] = &["Female", "Male"];
    const MARITAL: &[&str] = &["Single", "Married", "Prefer not to say"];
    const OCCUPATIONS: &[&str] = &["Student", "Employee", "Self Employeed", "House wife"];
    const INCOMES: &[&str] = &[
        "No Income",
        "Below Rs.10000",
        "10001 to 25000",
        "25001 to 50000",
        "More than 50000",
    ];
    const EDUCATION: &[&str] = &["Graduate", "Post Graduate", "Ph.D", "School", "Uneducated"];
    let mut rng = Rng(seed ^ 0xC057_0000_0000_0000);
    (1..=customers as i64)
        .map(|id| {
            let home = rng.pick(RESTAURANTS).1;
            let signup = 1_672_531_200 + rng.below(365 * DAY as u64) as i64;
            json!({
                "customer_id": id,
                "signup_ts": rfc3339(signup),
                "age": 18 + rng.below(45) as i64,
                "gender": rng.pick(GENDERS),
                "marital_status": rng.pick(MARITAL),
                "occupation": rng.pick(OCCUPATIONS),
                "monthly_income": rng.pick(INCOMES),
                "education": rng.pick(EDUCATION),
                "family_size": 1 + rng.below(6) as i64,
                "latitude": 12.85 + rng.unit() * 0.2,
                "longitude": 77.45 + rng.unit() * 0.3,
                "pin_code": format!("5600{:02}", rng.below(100)),
                "city": home,
                "updated_at": "2025-07-01T00:00:00Z",
                "_pulled_at": "2025-07-01T00:00:00Z",
                "_deleted": false,
            })
            .to_string()
            .into_bytes()
        })
        .collect()
}

/// Contract events from the real orders export: one `order_placed` and one
/// `order_delivered` per row. The export has no customer and no amount, so
/// the customer (1 to 388, the survey's size) and the amounts are derived
/// from a hash of the order id: deterministic, never random. Padding is
/// trimmed; a row whose order time is `NaN` gives an event with that
/// timestamp, which the quarantine catches as a bad timestamp.
pub fn from_orders_csv(path: &std::path::Path) -> Result<Vec<Event>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .ok_or("the file is empty")?
        .split(',')
        .map(|h| h.trim().to_string())
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("{}: no `{name}` column", path.display()))
    };
    let (
        id,
        person,
        date,
        ordered,
        picked,
        weather,
        traffic,
        order_type,
        vehicle,
        multiple,
        festival,
    ) = (
        col("ID")?,
        col("Delivery_person_ID")?,
        col("Order_Date")?,
        col("Time_Orderd")?,
        col("Time_Order_picked")?,
        col("Weatherconditions")?,
        col("Road_traffic_density")?,
        col("Type_of_order")?,
        col("Type_of_vehicle")?,
        col("multiple_deliveries")?,
        col("Festival")?,
    );
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() < header.len() {
            continue;
        }
        let order_id = f[id];
        let h = u64::from_str_radix(order_id.trim_start_matches("0x"), 16).unwrap_or(n as u64);
        let mut rng = Rng(h);
        let customer = 1 + (rng.next() % 388) as i64;
        let day = f[date].split('-').collect::<Vec<_>>();
        let iso_date = match day.as_slice() {
            [d, m, y] => format!("{y}-{m}-{d}"),
            _ => f[date].to_string(),
        };
        let placed_ts = format!("{iso_date}T{}Z", f[ordered]);
        let picked_ts = format!("{iso_date}T{}Z", f[picked]);
        let restaurant = RESTAURANTS[(rng.next() % RESTAURANTS.len() as u64) as usize];
        let amount = 300 + rng.below(5_700);
        let key = Some(customer.to_string().into_bytes());
        let placed = json!({
            "event_id": format!("csv-{order_id}-placed"),
            "event_type": "order_placed",
            "event_ts": placed_ts,
            "customer_id": customer,
            "order_id": order_id,
            "restaurant_id": restaurant.0,
            "city": restaurant.1,
            "order_type": f[order_type],
            "order_amount": money(amount),
            "discount_amount": money(0),
            "delivery_fee": money(rng.below(600)),
            "payment_method": rng.pick(PAYMENTS),
        });
        let minutes = 15 + rng.below(40) as i64;
        let nan = |s: &str| s.is_empty() || s.eq_ignore_ascii_case("nan");
        let weather_text = f[weather].trim_start_matches("conditions ").trim();
        let delivered = json!({
            "event_id": format!("csv-{order_id}-delivered"),
            "event_type": "order_delivered",
            "event_ts": picked_ts,
            "customer_id": customer,
            "order_id": order_id,
            "delivery_person_id": f[person],
            "delivery_minutes": minutes,
            "weather": if nan(weather_text) { Value::Null } else { json!(weather_text) },
            "traffic_density": if nan(f[traffic]) { Value::Null } else { json!(f[traffic]) },
            "vehicle_type": f[vehicle],
            "multiple_deliveries": f[multiple].parse::<i64>().ok(),
            "festival": match f[festival] { "Yes" => json!(true), "No" => json!(false), _ => Value::Null },
        });
        out.push((key.clone(), placed.to_string().into_bytes()));
        out.push((key, delivered.to_string().into_bytes()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_events() {
        let a = synthetic(50, 7);
        let b = synthetic(50, 7);
        assert_eq!(a, b);
        assert_ne!(a, synthetic(50, 8));
    }

    #[test]
    fn about_twenty_orders_per_customer_with_duplicates_and_bad_messages() {
        let events = synthetic(2000, 1);
        let mut orders = std::collections::HashSet::new();
        let mut ids = std::collections::HashMap::<String, u32>::new();
        let mut bad = 0;
        for (_, line) in &events {
            match serde_json::from_slice::<Value>(line) {
                Ok(v) if v.is_object() && v["event_type"] == "order_placed" => {
                    orders.insert(v["order_id"].as_str().unwrap_or_default().to_string());
                    *ids.entry(v["event_id"].to_string()).or_default() += 1;
                }
                Ok(v) if v.is_object() => {
                    *ids.entry(v["event_id"].to_string()).or_default() += 1;
                }
                _ => bad += 1,
            }
        }
        let per_customer = orders.len() as f64 / 2000.0;
        assert!(
            (14.0..26.0).contains(&per_customer),
            "{per_customer} orders per customer"
        );
        let duplicated = ids.values().filter(|n| **n > 1).count() as f64 / ids.len() as f64;
        assert!(
            (0.005..0.02).contains(&duplicated),
            "{duplicated} duplicated"
        );
        assert!(bad > 0);
    }
}
