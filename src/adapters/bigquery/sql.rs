//! The SQL rdbt sends to BigQuery for each materialization, as
//! dbt-bigquery writes it. Pure functions: snapshot-tested offline.

use serde_json::Value;

pub fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "\\`"))
}

/// A BigQuery string literal.
pub fn string_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
    out.push('\'');
    out
}

pub use crate::adapters::write::{PartitionBy, RelationOptions as TableOptions};

/// How BigQuery SQL writes a `partition_by`.
pub trait PartitionSql {
    /// The partitioning expression over `column` (a column reference).
    fn expression_over(&self, column: &str) -> String;
    fn clause(&self) -> String;
    /// A partition value (as the result JSON gives it) as a literal.
    fn literal(&self, value: &Value) -> String;
}

impl PartitionSql for PartitionBy {
    fn expression_over(&self, column: &str) -> String {
        match (self.data_type.as_str(), self.granularity.as_str()) {
            ("int64", _) => {
                let (start, end, interval) = self.range.unwrap_or((0, 1, 1));
                format!("range_bucket({column}, generate_array({start}, {end}, {interval}))")
            }
            ("date", "day") => column.to_string(),
            ("date", g) => format!("date_trunc({column}, {g})"),
            (t, g) => format!("{t}_trunc({column}, {g})"),
        }
    }

    fn clause(&self) -> String {
        format!("partition by {}", self.expression_over(&quote(&self.field)))
    }

    fn literal(&self, value: &Value) -> String {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        match self.data_type.as_str() {
            "int64" => text,
            "date" => format!("date {}", string_literal(&text)),
            "datetime" => format!("datetime {}", string_literal(&text)),
            _ => format!("timestamp {}", string_literal(&text)),
        }
    }
}

fn options_clause(options: &TableOptions, for_table: bool) -> String {
    let mut items: Vec<String> = Vec::new();
    if let Some(d) = options
        .description
        .as_ref()
        .filter(|d| !d.trim().is_empty())
    {
        items.push(format!("description={}", string_literal(d)));
    }
    if !options.labels.is_empty() {
        let pairs: Vec<String> = options
            .labels
            .iter()
            .map(|(k, v)| {
                format!(
                    "({}, {})",
                    string_literal(&super::client::label_value(k)),
                    string_literal(&super::client::label_value(v))
                )
            })
            .collect();
        items.push(format!("labels=[{}]", pairs.join(", ")));
    }
    if for_table && options.partition_by.is_some() {
        if options.require_partition_filter {
            items.push("require_partition_filter=true".into());
        }
        if let Some(days) = options.partition_expiration_days {
            items.push(format!("partition_expiration_days={days}"));
        }
    }
    if items.is_empty() {
        String::new()
    } else {
        format!("\noptions({})", items.join(", "))
    }
}

/// `table` materialization and a full build of an incremental model.
pub fn create_table_as(relation: &str, sql: &str, options: &TableOptions) -> String {
    let mut out = format!("create or replace table {relation}");
    if let Some(p) = &options.partition_by {
        out.push('\n');
        out.push_str(&p.clause());
    }
    if !options.cluster_by.is_empty() {
        let cols: Vec<String> = options.cluster_by.iter().map(|c| quote(c)).collect();
        out.push_str(&format!("\ncluster by {}", cols.join(", ")));
    }
    out.push_str(&options_clause(options, true));
    out.push_str(&format!(
        "\nas (\n{}\n);",
        sql.trim_end().trim_end_matches(';')
    ));
    out
}

pub fn create_view(relation: &str, sql: &str, options: &TableOptions) -> String {
    format!(
        "create or replace view {relation}{}\nas {};",
        options_clause(options, false),
        sql.trim_end().trim_end_matches(';')
    )
}

fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `append`: the new rows added.
pub fn insert_into(relation: &str, sql: &str, columns: &[String]) -> String {
    let cols = column_list(columns);
    format!(
        "insert into {relation} ({cols})\nselect {cols} from (\n{}\n) as dbt_internal_new;",
        sql.trim_end().trim_end_matches(';')
    )
}

/// `merge` (and `delete+insert`, which has the same result): rows whose
/// key matches are updated, the rest inserted.
pub fn merge(relation: &str, source: &str, unique_key: &[String], columns: &[String]) -> String {
    let on: Vec<String> = unique_key
        .iter()
        .map(|k| {
            format!(
                "DBT_INTERNAL_SOURCE.{q} = DBT_INTERNAL_DEST.{q}",
                q = quote(k)
            )
        })
        .collect();
    let set: Vec<String> = columns
        .iter()
        .map(|c| format!("{q} = DBT_INTERNAL_SOURCE.{q}", q = quote(c)))
        .collect();
    let cols = column_list(columns);
    format!(
        "merge into {relation} as DBT_INTERNAL_DEST\nusing (\n{}\n) as DBT_INTERNAL_SOURCE\non ({})\nwhen matched then update set\n    {}\nwhen not matched then insert\n    ({cols})\nvalues\n    ({cols});",
        source.trim_end().trim_end_matches(';'),
        on.join(" and "),
        set.join(",\n    "),
    )
}

/// `insert_overwrite`: the partitions the new rows touch are replaced, in
/// one atomic MERGE (dbt-bigquery's static form, with the partitions found
/// by a query first).
pub fn insert_overwrite(
    relation: &str,
    source: &str,
    partition: &PartitionBy,
    partitions: &[String],
    columns: &[String],
) -> String {
    let cols = column_list(columns);
    let predicate =
        partition.expression_over(&format!("DBT_INTERNAL_DEST.{}", quote(&partition.field)));
    let delete = if partitions.is_empty() {
        String::new()
    } else {
        format!(
            "when not matched by source and {predicate} in ({}) then delete\n",
            partitions.join(", ")
        )
    };
    format!(
        "merge into {relation} as DBT_INTERNAL_DEST\nusing (\n{}\n) as DBT_INTERNAL_SOURCE\non false\n{delete}when not matched then insert\n    ({cols})\nvalues\n    ({cols});",
        source.trim_end().trim_end_matches(';'),
    )
}

/// A microbatch: the target's rows whose `column` (as a timestamp) is in
/// `[start, end)` are replaced by `source`'s, in one atomic MERGE.
pub fn replace_range(
    relation: &str,
    source: &str,
    column: &str,
    (start, end): (&str, &str),
    columns: &[String],
) -> String {
    let cols = column_list(columns);
    let c = format!("cast(DBT_INTERNAL_DEST.{} as timestamp)", quote(column));
    format!(
        "merge into {relation} as DBT_INTERNAL_DEST\nusing (\n{}\n) as DBT_INTERNAL_SOURCE\non false\nwhen not matched by source and {c} >= {start} and {c} < {end} then delete\nwhen not matched then insert\n    ({cols})\nvalues\n    ({cols});",
        source.trim_end().trim_end_matches(';'),
    )
}

/// The distinct partitions in `source`, for `insert_overwrite`.
pub fn partitions_of(source: &str, partition: &PartitionBy) -> String {
    format!(
        "select distinct {} as dbt_partition from {source}",
        partition.expression_over(&quote(&partition.field))
    )
}

/// An external table over a Hive-partitioned Parquet prefix of the land.
pub fn external_table(relation: &str, prefix: &str, format: &str, hive: bool) -> String {
    let prefix = prefix.trim_end_matches('/');
    external_table_with(
        relation,
        &ExternalTable {
            format: format.to_ascii_uppercase(),
            uris: vec![format!("{prefix}/*")],
            hive_prefix: hive.then(|| prefix.to_string()),
            ..Default::default()
        },
    )
}

/// What `create or replace external table` says about the files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExternalTable {
    /// `PARQUET`, `CSV`, `NEWLINE_DELIMITED_JSON`.
    pub format: String,
    pub uris: Vec<String>,
    /// Hive partitioning: the URI prefix above the `key=value` folders.
    pub hive_prefix: Option<String>,
    /// Typed partition columns; empty lets BigQuery detect them.
    pub partition_columns: Vec<(String, String)>,
    /// Declared columns with BigQuery types; empty lets BigQuery detect them.
    pub columns: Vec<(String, String)>,
    pub skip_leading_rows: Option<u32>,
    pub field_delimiter: Option<char>,
    pub quote: Option<char>,
    /// `GZIP` where the files are compressed.
    pub compression: Option<String>,
}

pub fn external_table_with(relation: &str, t: &ExternalTable) -> String {
    let mut options = vec![
        format!("format = {}", string_literal(&t.format)),
        format!(
            "uris = [{}]",
            t.uris
                .iter()
                .map(|u| string_literal(u))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    let mut partitions = String::new();
    if let Some(prefix) = &t.hive_prefix {
        options.push(format!(
            "hive_partition_uri_prefix = {}",
            string_literal(prefix.trim_end_matches('/'))
        ));
        options.push("require_hive_partition_filter = false".into());
        partitions = if t.partition_columns.is_empty() {
            "\nwith partition columns".into()
        } else {
            format!(
                "\nwith partition columns ({})",
                t.partition_columns
                    .iter()
                    .map(|(n, ty)| format!("{} {ty}", quote(n)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
    }
    if let Some(n) = t.skip_leading_rows {
        options.push(format!("skip_leading_rows = {n}"));
    }
    if let Some(d) = t.field_delimiter {
        options.push(format!(
            "field_delimiter = {}",
            string_literal(&d.to_string())
        ));
    }
    if let Some(q) = t.quote {
        options.push(format!("quote = {}", string_literal(&q.to_string())));
    }
    if let Some(c) = &t.compression {
        options.push(format!("compression = {}", string_literal(c)));
    }
    let columns = if t.columns.is_empty() {
        String::new()
    } else {
        format!(
            " (\n    {}\n)",
            t.columns
                .iter()
                .map(|(n, ty)| format!("{} {ty}", quote(n)))
                .collect::<Vec<_>>()
                .join(",\n    ")
        )
    };
    format!(
        "create or replace external table {relation}{columns}{partitions}\noptions (\n    {}\n);",
        options.join(",\n    ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rel() -> String {
        "`acme`.`analytics`.`fact_order`".into()
    }

    #[test]
    fn table_with_partitions_clusters_labels_and_description() {
        let options = TableOptions {
            partition_by: PartitionBy::from_config(Some(
                &json!({"field": "order_ts", "data_type": "timestamp", "granularity": "month"}),
            ))
            .unwrap(),
            cluster_by: vec!["customer_id".into()],
            labels: [("team".to_string(), "growth".to_string())].into(),
            description: Some("One row per order. It's the fact.".into()),
            require_partition_filter: true,
            partition_expiration_days: None,
        };
        insta::assert_snapshot!(create_table_as(&rel(), "select 1 as order_id;\n", &options), @r"
        create or replace table `acme`.`analytics`.`fact_order`
        partition by timestamp_trunc(`order_ts`, month)
        cluster by `customer_id`
        options(description='One row per order. It\'s the fact.', labels=[('team', 'growth')], require_partition_filter=true)
        as (
        select 1 as order_id
        );
        ");
    }

    #[test]
    fn view_and_append() {
        insta::assert_snapshot!(create_view(&rel(), "select 1 as a", &TableOptions::default()), @r"
        create or replace view `acme`.`analytics`.`fact_order`
        as select 1 as a;
        ");
        insta::assert_snapshot!(insert_into(&rel(), "select 1 as a", &["a".into()]), @r"
        insert into `acme`.`analytics`.`fact_order` (`a`)
        select `a` from (
        select 1 as a
        ) as dbt_internal_new;
        ");
    }

    #[test]
    fn merge_on_a_unique_key() {
        insta::assert_snapshot!(merge(&rel(), "select 1 as order_id, 2 as amount", &["order_id".into()], &["order_id".into(), "amount".into()]), @r"
        merge into `acme`.`analytics`.`fact_order` as DBT_INTERNAL_DEST
        using (
        select 1 as order_id, 2 as amount
        ) as DBT_INTERNAL_SOURCE
        on (DBT_INTERNAL_SOURCE.`order_id` = DBT_INTERNAL_DEST.`order_id`)
        when matched then update set
            `order_id` = DBT_INTERNAL_SOURCE.`order_id`,
            `amount` = DBT_INTERNAL_SOURCE.`amount`
        when not matched then insert
            (`order_id`, `amount`)
        values
            (`order_id`, `amount`);
        ");
    }

    #[test]
    fn insert_overwrite_replaces_the_touched_partitions() {
        let p = PartitionBy::from_config(Some(&json!({"field": "order_date"})))
            .unwrap()
            .unwrap();
        let parts = vec![
            p.literal(&json!("2024-01-01")),
            p.literal(&json!("2024-01-02")),
        ];
        insta::assert_snapshot!(insert_overwrite(&rel(), "select * from `acme`.`analytics`.`fact_order__dbt_tmp`", &p, &parts, &["order_date".into(), "n".into()]), @r"
        merge into `acme`.`analytics`.`fact_order` as DBT_INTERNAL_DEST
        using (
        select * from `acme`.`analytics`.`fact_order__dbt_tmp`
        ) as DBT_INTERNAL_SOURCE
        on false
        when not matched by source and DBT_INTERNAL_DEST.`order_date` in (date '2024-01-01', date '2024-01-02') then delete
        when not matched then insert
            (`order_date`, `n`)
        values
            (`order_date`, `n`);
        ");
        let ints = PartitionBy::from_config(Some(&json!({"field": "id", "data_type": "int64", "range": {"start": 0, "end": 100, "interval": 10}}))).unwrap().unwrap();
        assert_eq!(
            ints.clause(),
            "partition by range_bucket(`id`, generate_array(0, 100, 10))"
        );
    }

    #[test]
    fn external_table_over_the_hive_land() {
        insta::assert_snapshot!(external_table("`acme`.`kafka`.`customer_activity_data`", "gs://lake/land/kafka/customer_activity_data/", "parquet", true), @r"
        create or replace external table `acme`.`kafka`.`customer_activity_data`
        with partition columns
        options (
            format = 'PARQUET',
            uris = ['gs://lake/land/kafka/customer_activity_data/*'],
            hive_partition_uri_prefix = 'gs://lake/land/kafka/customer_activity_data',
            require_hive_partition_filter = false
        );
        ");
    }

    #[test]
    fn bad_partition_configs_say_what_to_write() {
        assert!(
            PartitionBy::from_config(Some(&json!(42)))
                .unwrap_err()
                .contains("mapping")
        );
        assert!(
            PartitionBy::from_config(Some(&json!({"field": "x", "data_type": "string"})))
                .unwrap_err()
                .contains("date, timestamp")
        );
        assert!(
            PartitionBy::from_config(Some(&json!({"field": "x", "data_type": "int64"})))
                .unwrap_err()
                .contains("range")
        );
    }
}
