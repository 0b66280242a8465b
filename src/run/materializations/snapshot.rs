//! Snapshots (SCD type 2): every version of each row, with dbt's
//! `dbt_scd_id`, `dbt_updated_at`, `dbt_valid_from` and `dbt_valid_to`, and
//! dbt 1.9's `dbt_valid_to_current` and `hard_deletes`. The changes are
//! staged as rows (new versions, and current versions closed) and merged on
//! `dbt_scd_id` in one write, so a failure changes nothing.

use super::{Failed, NodeRun, Outcome};
use crate::adapters::{GenericType, RelationKind, WriteStrategy};
use crate::compile::node_config::{CheckCols, HardDeletes, SnapshotStrategy};

pub(super) async fn build(run: &NodeRun<'_>) -> Outcome {
    let node = run.node;
    let (_, sql) = run.compile(false).await?;
    let keys = &run.config.unique_key;
    if keys.is_empty() {
        return Err(run.config_error(format!(
            "snapshot `{}` needs `unique_key` (a column or a list of columns) in its config",
            node.name
        )));
    }
    let d = run.adapter.dialect();
    let now = d.timestamp_literal(
        &chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string(),
    );
    let (updated, changed) = strategy_sql(run, &sql, &now).await?;
    let scd = ScdSql::new(run);
    let (t, scd_id) = (|e: &str| scd.time(e), |from: &str| scd.id(from));
    let current_to = scd.current_to.clone();
    let new_record = run.config.hard_deletes == HardDeletes::NewRecord;
    let relation = run.relation();
    let existing = run.existing().await? == Some(RelationKind::Table);
    if !existing {
        let first = format!(
            "select src.*, {id} as dbt_scd_id, {u} as dbt_updated_at, {u} as dbt_valid_from, {current_to} as dbt_valid_to{deleted} from (\n{sql}\n) as src",
            id = scd_id(&updated),
            u = t(&updated),
            deleted = if new_record {
                ", 'False' as dbt_is_deleted"
            } else {
                ""
            },
        );
        let response = run
            .adapter
            .write_table(&relation, &first, &WriteStrategy::Replace)
            .await
            .map_err(|e| run.failed(&first, e))?;
        let mut r = run.success(response);
        r.compiled_code = Some(first);
        return Ok(r);
    }
    let staged = staged_changes(run, &scd, &sql, (&updated, &changed), &now).await?;
    let response = run
        .adapter
        .write_table(
            &relation,
            &staged,
            &WriteStrategy::Merge {
                unique_key: vec!["dbt_scd_id".to_string()],
            },
        )
        .await
        .map_err(|e| run.failed(&staged, e))?;
    let mut r = run.success(response);
    r.compiled_code = Some(staged);
    Ok(r)
}

/// The strategy's SQL: the new rows' `dbt_updated_at`, and the condition
/// that a current row (`cur`) changed in the source (`src`).
async fn strategy_sql(run: &NodeRun<'_>, sql: &str, now: &str) -> Result<(String, String), Failed> {
    let node = run.node;
    let keys = &run.config.unique_key;
    let d = run.adapter.dialect();
    let q = |c: &str| d.quote_identifier(c);
    Ok(match &run.config.snapshot_strategy {
        Some(SnapshotStrategy::Timestamp { updated_at }) => (
            format!("cast(src.{} as timestamp)", q(updated_at)),
            format!(
                "cast(src.{} as timestamp) > cur.dbt_updated_at",
                q(updated_at)
            ),
        ),
        Some(SnapshotStrategy::Check { columns }) => {
            let cols: Vec<String> = match columns {
                CheckCols::All => run
                    .adapter
                    .query_columns(sql)
                    .await
                    .map_err(|e| run.failed(sql, e))?
                    .into_iter()
                    .map(|c| c.name)
                    .filter(|c| !keys.contains(c))
                    .collect(),
                CheckCols::Columns(cols) => cols.clone(),
            };
            if cols.is_empty() {
                return Err(run.config_error(format!(
                    "snapshot `{}` uses the check strategy and needs `check_cols` (a list or 'all')",
                    node.name
                )));
            }
            (
                now.to_string(),
                cols.iter()
                    .map(|c| format!("(src.{q} is distinct from cur.{q})", q = q(c)))
                    .collect::<Vec<_>>()
                    .join(" or "),
            )
        }
        None => {
            let strategy = node
                .config
                .get("strategy")
                .and_then(|s| s.as_str())
                .unwrap_or("");
            return Err(run.config_error(if strategy == "timestamp" {
                format!(
                    "snapshot `{}` uses the timestamp strategy and needs `updated_at`",
                    node.name
                )
            } else {
                format!(
                    "snapshot strategy `{strategy}` is not timestamp or check (snapshot `{}`)",
                    node.name
                )
            }));
        }
    })
}

/// How a snapshot's SCD columns are written in the warehouse's SQL.
struct ScdSql {
    dialect: &'static dyn crate::adapters::Dialect,
    /// The unique key's columns of `src`, as one text.
    key_concat: String,
    string: &'static str,
    /// `dbt_valid_to_current`, when set.
    current_value: Option<String>,
    /// What a current row's `dbt_valid_to` holds.
    current_to: String,
}

impl ScdSql {
    fn new(run: &NodeRun<'_>) -> ScdSql {
        let d = run.adapter.dialect();
        let string = d.type_name(GenericType::String);
        let key_concat = run
            .config
            .unique_key
            .iter()
            .map(|k| format!("cast(src.{} as {string})", d.quote_identifier(k)))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let current_value = run
            .config
            .valid_to_current
            .as_deref()
            .map(|e| d.snapshot_time_value(e));
        let current_to = current_value
            .clone()
            .unwrap_or_else(|| d.snapshot_time("cast(null as timestamp)"));
        ScdSql {
            dialect: d,
            key_concat,
            string,
            current_value,
            current_to,
        }
    }

    /// `dbt_scd_id` of a row valid from `from`.
    fn id(&self, from: &str) -> String {
        self.dialect.md5_hex(&format!(
            "{} || '|' || cast({from} as {})",
            self.key_concat, self.string
        ))
    }

    fn time(&self, expr: &str) -> String {
        self.dialect.snapshot_time(expr)
    }

    /// Whether the row `alias` is current.
    fn is_current(&self, alias: &str) -> String {
        match &self.current_value {
            Some(v) => format!("({alias}.dbt_valid_to is null or {alias}.dbt_valid_to = {v})"),
            None => format!("{alias}.dbt_valid_to is null"),
        }
    }
}

/// The changes to an existing snapshot as rows keyed by `dbt_scd_id`: new
/// versions of changed and new keys, and current versions closed (changed,
/// or gone from the source under `hard_deletes`).
async fn staged_changes(
    run: &NodeRun<'_>,
    scd: &ScdSql,
    sql: &str,
    (updated, changed): (&str, &str),
    now: &str,
) -> Result<String, Failed> {
    let node = run.node;
    let keys = &run.config.unique_key;
    let q = |c: &str| scd.dialect.quote_identifier(c);
    let (t, scd_id, is_current) = (
        |e: &str| scd.time(e),
        |from: &str| scd.id(from),
        |alias: &str| scd.is_current(alias),
    );
    let current_to = &scd.current_to;
    let new_record = run.config.hard_deletes == HardDeletes::NewRecord;
    let target_cols: Vec<String> = run
        .adapter
        .columns(&node.schema, &node.alias)
        .await
        .map_err(|e| run.failed(sql, e))?
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .collect();
    let had_deleted = target_cols.iter().any(|c| c == "dbt_is_deleted");
    let cols: Vec<&String> = target_cols
        .iter()
        .filter(|c| !c.starts_with("dbt_"))
        .collect();
    let on = |l: &str, r: &str| {
        keys.iter()
            .map(|k| format!("{l}.{q} = {r}.{q}", q = q(k)))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let list = |alias: &str| {
        cols.iter()
            .map(|c| format!("{alias}.{}", q(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // A row's deleted flag ('False' in a table from before new_record).
    let flag = |alias: &str| {
        if had_deleted {
            format!("coalesce({alias}.dbt_is_deleted, 'False')")
        } else {
            "'False'".to_string()
        }
    };
    let (flag_out, flag_kept) = if new_record {
        (
            ", 'False' as dbt_is_deleted".to_string(),
            format!(", {} as dbt_is_deleted", flag("cur")),
        )
    } else {
        (String::new(), String::new())
    };
    let deletes = if run.config.hard_deletes == HardDeletes::Ignore {
        String::new()
    } else {
        let gone = format!(
            "{} <> 'True' and not exists (select 1 from src where {})",
            flag("cur"),
            on("src", "cur")
        );
        let mut text = format!(
            "\nunion all\nselect {cur}, cur.dbt_scd_id, cur.dbt_updated_at, cur.dbt_valid_from, {closed} as dbt_valid_to{flag_kept}\nfrom cur where {gone}",
            cur = list("cur"),
            closed = t(now),
        );
        if new_record {
            text.push_str(&format!(
                "\nunion all\nselect {cur}, {id} as dbt_scd_id, {n} as dbt_updated_at, {n} as dbt_valid_from, {current_to} as dbt_valid_to, 'True' as dbt_is_deleted\nfrom cur where {gone}",
                cur = list("cur"),
                id = scd_id(now).replace("src.", "cur."),
                n = t(now),
            ));
        }
        text
    };
    // A key deleted earlier (new_record) and back in the source is new
    // again from now.
    let (changed_from, changed_when) = if new_record {
        (
            format!(
                "case when {} = 'True' then {now} else {updated} end",
                flag("cur")
            ),
            format!("({changed}) or {} = 'True'", flag("cur")),
        )
    } else {
        (updated.to_string(), changed.to_string())
    };
    let staged = format!(
        "with src as (\n{sql}\n),\ncur as (select * from {target} as s where {cur_s}),\nchanged as (select src.*, {changed_from} as dbt_new_from from src join cur on {on_cur} where {changed_when}),\nfresh as (select src.* from src where not exists (select 1 from cur where {on_cur}))\n\
         select {src_cols}, {id_changed} as dbt_scd_id, {new_from} as dbt_updated_at, {new_from} as dbt_valid_from, {current_to} as dbt_valid_to{flag_out} from changed as src\n\
         union all\nselect {src_cols}, {id_fresh} as dbt_scd_id, {u} as dbt_updated_at, {u} as dbt_valid_from, {current_to} as dbt_valid_to{flag_out} from fresh as src\n\
         union all\nselect {cur_cols}, cur.dbt_scd_id, cur.dbt_updated_at, cur.dbt_valid_from, {closed_at} as dbt_valid_to{flag_kept} from cur join changed on {on_changed}{deletes}",
        target = run.adapter.relation(&node.schema, &node.alias),
        cur_s = is_current("s"),
        on_cur = on("src", "cur"),
        on_changed = on("changed", "cur"),
        src_cols = list("src"),
        cur_cols = list("cur"),
        id_changed = scd_id("src.dbt_new_from"),
        new_from = t("src.dbt_new_from"),
        id_fresh = scd_id(updated),
        u = t(updated),
        closed_at = t("changed.dbt_new_from"),
    );
    Ok(staged)
}
