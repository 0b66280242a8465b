//! The real Postgres server the pull tests use, and the contract's
//! customers table filled from the real survey export.

use std::path::Path;

/// The server's URL, or `None` (loudly) when there is none; under CI a
/// missing server is a failure.
pub fn server() -> Option<String> {
    match std::env::var("RDBT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "RDBT_TEST_POSTGRES_URL is not set; .ci/run sets it"
            );
            eprintln!(
                "SKIPPED: set RDBT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run the Postgres tests"
            );
            None
        }
    }
}

/// Runs `statements` (one or more, `;`-separated) on `url`.
pub fn sql(url: &str, statements: &str) {
    let url = url.to_string();
    let statements = statements.to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test server");
        tokio::spawn(connection);
        client.batch_execute(&statements).await.expect("setup SQL");
    });
}

/// A fresh, empty database `name` on the server of `url`, and its URL, so a
/// test that needs fixed table names (the example's `public.customers`)
/// shares nothing with the others running beside it.
pub fn fresh_database(url: &str, name: &str) -> String {
    // One statement per call: several in one string run as a transaction,
    // which these two refuse.
    sql(url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    sql(url, &format!("CREATE DATABASE {name}"));
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    format!("{base}/{name}")
}

/// Creates `table` as the contract's customers table (retention.md §1.2)
/// and fills it from the survey export's first ten columns as they are:
/// text keeps its padding and odd values; numbers that do not parse become
/// NULL. The survey has no id, signup or city: row number (so customer `n`
/// is the survey's row `n`, as `rdbt produce --from-orders-csv` numbers
/// them), a day per row, and its city. Returns the number of rows.
pub fn load_survey(url: &str, table: &str, csv: &Path) -> usize {
    sql(
        url,
        &format!(
            "DROP TABLE IF EXISTS {table};
             CREATE TABLE {table} (customer_id bigint PRIMARY KEY, signup_ts timestamptz NOT NULL,
               age integer, gender text, marital_status text, occupation text, monthly_income text,
               education text, family_size integer, latitude double precision, longitude double precision,
               pin_code text, city text, updated_at timestamptz NOT NULL);"
        ),
    );
    let text = std::fs::read_to_string(csv).expect("read survey");
    let mut values = Vec::new();
    for (i, line) in text.lines().skip(1).enumerate() {
        let f: Vec<&str> = line.splitn(11, ',').collect();
        if f.len() < 10 {
            continue;
        }
        let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let int = |s: &str| {
            s.trim()
                .parse::<i64>()
                .map_or("NULL".to_string(), |n| n.to_string())
        };
        let float = |s: &str| {
            s.trim()
                .parse::<f64>()
                .map_or("NULL".to_string(), |n| n.to_string())
        };
        values.push(format!(
            "({}, '2023-01-01'::timestamptz + {} * interval '1 day', {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'Bangalore', now())",
            i + 1, i, int(f[0]), q(f[1]), q(f[2]), q(f[3]), q(f[4]), q(f[5]), int(f[6]), float(f[7]), float(f[8]), q(f[9])
        ));
    }
    sql(
        url,
        &format!("INSERT INTO {table} VALUES {};", values.join(",\n")),
    );
    values.len()
}
