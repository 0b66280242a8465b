//! Static analysis: plans a model's SQL against the schemas of its parents
//! without reading any data, giving its output columns and types, the
//! errors a run would hit (unknown column, type mismatch, unknown
//! function), and the lineage of every output column.

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::catalog::empty::EmptyTable;
use datafusion::common::TableReference;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::prelude::{SessionConfig, SessionContext};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

/// How an output column derives from an upstream column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Derivation {
    /// The value itself, renamed at most.
    Copy,
    /// Computed from it row by row.
    Transform,
    /// Aggregated over rows (aggregates and window functions).
    Aggregate,
    /// It decides which rows are kept (WHERE, HAVING, QUALIFY).
    Filter,
    /// It decides how rows are matched (JOIN ... ON).
    JoinKey,
}

/// One upstream column an output column depends on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ColumnSource {
    /// The upstream node's unique id.
    pub node: String,
    pub column: String,
    pub derivation: Derivation,
}

/// What planning a model found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelSchema {
    /// Output columns in order, with their SQL types.
    pub columns: Vec<(String, String)>,
    /// Per output column, the upstream columns it derives from.
    pub lineage: BTreeMap<String, Vec<ColumnSource>>,
}

/// Why a model could not be planned.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AnalysisError {
    pub message: String,
    /// The SQL reads a relation the analysis knows nothing about (created
    /// outside the project): nothing can be said about it.
    pub unknown_relation: bool,
    /// The operator of a type mismatch (`=`, `+`), to find it in the source.
    pub operator: Option<String>,
    /// The column or function the error is about, to find it in the source.
    pub subject: Option<String>,
}

/// The columns of a relation, as the planner sees them.
#[derive(Debug, Clone)]
pub struct TableSchema(SchemaRef);

impl TableSchema {
    /// From declared `(name, type)` columns; `None` when a type is missing
    /// or unknown (the schema cannot be trusted then).
    pub fn from_declared<'a>(
        columns: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Option<TableSchema> {
        let fields = columns
            .into_iter()
            .map(|(name, t)| Some(Field::new(name, arrow_type(t?)?, true)))
            .collect::<Option<Vec<_>>>()?;
        if fields.is_empty() {
            return None;
        }
        Some(TableSchema(Arc::new(Schema::new(fields))))
    }

    /// The schema of the Parquet files landed under `dir` (the first file's,
    /// plus a text column per Hive partition folder such as `dt=...`), or
    /// `None` when nothing has landed there.
    pub fn from_land(dir: &Path) -> Option<TableSchema> {
        let file = walkdir::WalkDir::new(dir)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .find(|e| {
                e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "parquet")
            })?;
        let reader = std::fs::File::open(file.path()).ok()?;
        let builder =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                reader,
            )
            .ok()?;
        let mut fields: Vec<Field> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let relative = file.path().strip_prefix(dir).ok()?;
        for part in relative.parent().into_iter().flat_map(|p| p.components()) {
            if let Some((key, _)) = part.as_os_str().to_string_lossy().split_once('=')
                && !fields.iter().any(|f| f.name() == key)
            {
                fields.push(Field::new(key, DataType::Utf8, true));
            }
        }
        Some(TableSchema(Arc::new(Schema::new(fields))))
    }

    pub fn column_names(&self) -> Vec<&str> {
        self.0.fields().iter().map(|f| f.name().as_str()).collect()
    }

    pub fn has_column(&self, name: &str) -> bool {
        self.0
            .fields()
            .iter()
            .any(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// A snapshot's columns: its query's, then dbt's bookkeeping columns.
    pub fn with_snapshot_columns(&self) -> TableSchema {
        let ts = DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None);
        let mut fields: Vec<Field> = self.0.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("dbt_scd_id", DataType::Utf8, true));
        fields.push(Field::new("dbt_updated_at", ts.clone(), true));
        fields.push(Field::new("dbt_valid_from", ts.clone(), true));
        fields.push(Field::new("dbt_valid_to", ts, true));
        TableSchema(Arc::new(Schema::new(fields)))
    }
}

/// The schemas known so far, as empty tables a planner can resolve.
pub struct Analyzer {
    ctx: SessionContext,
    /// One state for every plan: cloning it per plan (its function
    /// registries) cost more than planning. Tables registered later are
    /// visible through its shared catalog.
    state: datafusion::execution::SessionState,
    /// `schema.table` (lower case) → unique id, to name lineage sources.
    relations: HashMap<String, String>,
    runtime: tokio::runtime::Runtime,
}

impl Analyzer {
    pub fn new() -> Result<Analyzer, AnalysisError> {
        let config = SessionConfig::new()
            .with_information_schema(false)
            .with_default_catalog_and_schema("warehouse", "main");
        let ctx = SessionContext::new_with_config(config);
        super::functions::register_functions(&ctx);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| AnalysisError {
                message: format!("cannot start the planner: {e}"),
                unknown_relation: false,
                operator: None,
                subject: None,
            })?;
        let state = ctx.state();
        Ok(Analyzer {
            ctx,
            state,
            relations: HashMap::new(),
            runtime,
        })
    }

    fn ensure_schema(&self, schema: &str) {
        if let Some(catalog) = self.ctx.catalog("warehouse")
            && catalog.schema(schema).is_none()
        {
            let _ = catalog.register_schema(schema, Arc::new(MemorySchemaProvider::new()));
        }
    }

    /// Makes `schema.name` resolvable with the given columns.
    pub fn register(&mut self, unique_id: &str, schema: &str, name: &str, columns: &TableSchema) {
        let columns = columns.0.clone();
        self.ensure_schema(schema);
        let reference = TableReference::partial(schema, name);
        let _ = self.ctx.deregister_table(reference.clone());
        let _ = self
            .ctx
            .register_table(reference, Arc::new(EmptyTable::new(columns)));
        self.relations.insert(
            format!("{}.{}", schema.to_lowercase(), name.to_lowercase()),
            unique_id.to_string(),
        );
    }

    /// The schema a seed loads with: the CSV's inferred types, with
    /// `column_types` applied, exactly as the seed command loads it.
    pub fn seed_schema(
        &self,
        csv: &Path,
        delimiter: u8,
        column_types: &[(String, String)],
    ) -> Result<TableSchema, AnalysisError> {
        let path = csv.to_string_lossy().into_owned();
        let staging = "__rdbt_seed_schema";
        let ctx = &self.ctx;
        self.runtime.block_on(async {
            let _ = ctx.deregister_table(staging);
            let _ = ctx.deregister_table("__rdbt_seed_schema__raw");
            super::types::register_seed(ctx, staging, &path, delimiter)
                .await
                .map_err(|e| engine_error(&e))?;
            let df = ctx.table(staging).await.map_err(|e| engine_error(&e))?;
            let fields: Vec<Field> = df
                .schema()
                .fields()
                .iter()
                .map(|f| {
                    let typed = column_types
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(f.name()))
                        .and_then(|(_, t)| arrow_type(t));
                    Field::new(
                        f.name(),
                        typed.unwrap_or_else(|| f.data_type().clone()),
                        true,
                    )
                })
                .collect();
            let _ = ctx.deregister_table(staging);
            let _ = ctx.deregister_table("__rdbt_seed_schema__raw");
            Ok(TableSchema(Arc::new(Schema::new(fields))))
        })
    }

    /// Plans DataFusion SQL (already translated from its dialect).
    pub fn analyze(&self, sql: &str) -> Result<(TableSchema, ModelSchema), AnalysisError> {
        let statement =
            super::translate_statement(sql, super::SqlDialect::DataFusion).map_err(|e| {
                AnalysisError {
                    message: e.message,
                    unknown_relation: false,
                    operator: None,
                    subject: None,
                }
            })?;
        self.analyze_statement(statement, false)
    }

    /// Plans a statement already translated to DataFusion's SQL; with
    /// `case_insensitive`, column names resolve as in DuckDB (`sql::case`).
    pub fn analyze_statement(
        &self,
        statement: datafusion::sql::sqlparser::ast::Statement,
        case_insensitive: bool,
    ) -> Result<(TableSchema, ModelSchema), AnalysisError> {
        let state = &self.state;
        let statement = datafusion::sql::parser::Statement::Statement(Box::new(statement));
        // Planning against in-memory tables never waits on I/O, so a plain
        // executor does, and threads planning side by side share nothing.
        let (plan, _) = futures::executor::block_on(super::case::plan_statement(
            state,
            statement,
            case_insensitive,
        ))
        .map_err(|e| engine_error(&e))?;
        // Type coercion and its checks run in the analyzer rules; the
        // analyzed plan has the types the rows will have (a UNION's widest).
        let plan = state
            .analyzer()
            .execute_and_check(plan, state.config_options(), |_, _| {})
            .map_err(|e| engine_error(&e))?;
        let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        let lineage = lineage_of(&plan, &self.relations);
        let mut out = ModelSchema::default();
        for (i, field) in schema.fields().iter().enumerate() {
            out.columns.push((
                field.name().clone(),
                super::types::sql_type(field.data_type()),
            ));
            let mut sources = lineage.get(i).cloned().unwrap_or_default();
            sources.sort();
            sources.dedup();
            out.lineage.insert(field.name().clone(), sources);
        }
        Ok((TableSchema(schema), out))
    }
}

/// A SQL type name (as users write it in any dialect) as an Arrow type.
pub fn arrow_type(name: &str) -> Option<DataType> {
    let upper = name.trim().to_ascii_uppercase();
    // `numeric(10` is what YAML leaves of an unquoted `{data_type: numeric(10,2)}`.
    if upper.contains('(') != upper.ends_with(')') {
        return None;
    }
    let base = upper.split('(').next().unwrap_or("").trim();
    Some(match base {
        "INT64" | "BIGINT" | "INT8" | "LONG" => DataType::Int64,
        "INT" | "INTEGER" | "INT4" => DataType::Int32,
        "SMALLINT" | "INT2" => DataType::Int16,
        "TINYINT" => DataType::Int8,
        "FLOAT64" | "DOUBLE" | "FLOAT8" | "DOUBLE PRECISION" | "FLOAT" => DataType::Float64,
        "REAL" | "FLOAT4" => DataType::Float32,
        "STRING" | "TEXT" | "VARCHAR" | "CHAR" | "CHARACTER VARYING" => DataType::Utf8,
        "BOOL" | "BOOLEAN" => DataType::Boolean,
        "DATE" => DataType::Date32,
        "DATETIME" | "TIMESTAMP" | "TIMESTAMP_NTZ" => {
            DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None)
        }
        "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Microsecond,
            Some("UTC".into()),
        ),
        "NUMERIC" | "DECIMAL" => {
            let (p, s) = precision_scale(&upper).unwrap_or((38, 9));
            DataType::Decimal128(p, s)
        }
        "BIGNUMERIC" | "BIGDECIMAL" => DataType::Decimal256(76, 38),
        "BYTES" | "BYTEA" | "BLOB" | "BINARY" => DataType::Binary,
        "JSON" | "JSONB" => DataType::Utf8,
        _ => return None,
    })
}

fn precision_scale(t: &str) -> Option<(u8, i8)> {
    let inner = t.split('(').nth(1)?.trim_end_matches(')');
    let mut parts = inner.split(',').map(|p| p.trim().parse::<i64>().ok());
    let p = parts.next()??;
    let s = parts.next().flatten().unwrap_or(0);
    Some((u8::try_from(p).ok()?, i8::try_from(s).ok()?))
}

fn engine_error(e: &datafusion::error::DataFusionError) -> AnalysisError {
    let message = e.to_string();
    let message = message
        .trim_start_matches("Schema error: ")
        .trim_start_matches("Error during planning: ")
        .to_string();
    let subject = subject_of(&message);
    let unknown_relation = message.contains("table '") && message.contains("' not found");
    let operator = operator_of(&message);
    AnalysisError {
        message,
        unknown_relation,
        subject,
        operator,
    }
}

/// The operator of "... comparison operation Int64 = Boolean" or
/// "... arithmetic expression Int64 + Utf8 ...".
fn operator_of(message: &str) -> Option<String> {
    for marker in ["comparison operation ", "arithmetic expression "] {
        if let Some(rest) = message.split(marker).nth(1) {
            return rest.split_whitespace().nth(1).map(str::to_string);
        }
    }
    None
}

/// The name an error is about: `No field named x`, `Invalid function 'f'`.
fn subject_of(message: &str) -> Option<String> {
    if let Some(rest) = message.split("No field named ").nth(1) {
        let name: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
        let name = name.trim_end_matches('.').trim_end_matches(',');
        let last = name.rsplit('.').next().unwrap_or(name);
        return Some(last.trim_matches('"').to_string());
    }
    if let Some(rest) = message.split("Invalid function '").nth(1) {
        return rest.split('\'').next().map(str::to_string);
    }
    None
}

type Lineage = Vec<Vec<ColumnSource>>;

/// Per output field of `plan`, the upstream columns it derives from.
fn lineage_of(plan: &LogicalPlan, relations: &HashMap<String, String>) -> Lineage {
    let width = plan.schema().fields().len();
    let inputs: Vec<Lineage> = plan
        .inputs()
        .iter()
        .map(|p| lineage_of(p, relations))
        .collect();
    match plan {
        LogicalPlan::TableScan(scan) => {
            let key = match &scan.table_name {
                TableReference::Partial { schema, table } => {
                    format!("{}.{}", schema.to_lowercase(), table.to_lowercase())
                }
                TableReference::Full { schema, table, .. } => {
                    format!("{}.{}", schema.to_lowercase(), table.to_lowercase())
                }
                TableReference::Bare { table } => format!("main.{}", table.to_lowercase()),
            };
            let Some(node) = relations.get(&key) else {
                return vec![Vec::new(); width];
            };
            scan.projected_schema
                .fields()
                .iter()
                .map(|f| {
                    vec![ColumnSource {
                        node: node.clone(),
                        column: f.name().clone(),
                        derivation: Derivation::Copy,
                    }]
                })
                .collect()
        }
        LogicalPlan::Projection(p) => p
            .expr
            .iter()
            .map(|e| from_expr(e, &p.input, &inputs[0], None))
            .collect(),
        LogicalPlan::Aggregate(a) => {
            let mut out: Lineage = a
                .group_expr
                .iter()
                .map(|e| from_expr(e, &a.input, &inputs[0], None))
                .collect();
            out.extend(
                a.aggr_expr
                    .iter()
                    .map(|e| from_expr(e, &a.input, &inputs[0], Some(Derivation::Aggregate))),
            );
            out.resize(width, Vec::new());
            out
        }
        LogicalPlan::Window(w) => {
            let mut out = inputs[0].clone();
            out.extend(
                w.window_expr
                    .iter()
                    .map(|e| from_expr(e, &w.input, &inputs[0], Some(Derivation::Aggregate))),
            );
            out.resize(width, Vec::new());
            out
        }
        LogicalPlan::Filter(f) => {
            let extra = conditions(&[&f.predicate], &f.input, &inputs[0], Derivation::Filter);
            with_extra(inputs[0].clone(), &extra)
        }
        LogicalPlan::Join(j) => {
            let mut out = inputs[0].clone();
            if out.len() < width {
                out.extend(inputs.get(1).cloned().unwrap_or_default());
            }
            out.resize(width, Vec::new());
            let mut extra = Vec::new();
            for (l, r) in &j.on {
                extra.extend(conditions(&[l], &j.left, &inputs[0], Derivation::JoinKey));
                extra.extend(conditions(&[r], &j.right, &inputs[1], Derivation::JoinKey));
            }
            // Rows filtered out on one side drop their partners on the other.
            for side in &inputs {
                for sources in side {
                    extra.extend(
                        sources
                            .iter()
                            .filter(|s| {
                                matches!(s.derivation, Derivation::Filter | Derivation::JoinKey)
                            })
                            .cloned(),
                    );
                }
            }
            extra.sort();
            extra.dedup();
            if let Some(filter) = &j.filter {
                // A join filter may read both sides: try each.
                extra.extend(conditions(
                    &[filter],
                    &j.left,
                    &inputs[0],
                    Derivation::JoinKey,
                ));
                extra.extend(conditions(
                    &[filter],
                    &j.right,
                    &inputs[1],
                    Derivation::JoinKey,
                ));
            }
            with_extra(out, &extra)
        }
        LogicalPlan::Union(_) => {
            let mut out = vec![Vec::new(); width];
            for input in &inputs {
                for (i, sources) in input.iter().enumerate().take(width) {
                    out[i].extend(sources.iter().cloned());
                }
            }
            out
        }
        _ if inputs.len() == 1 && inputs[0].len() == width => inputs[0].clone(),
        _ => vec![Vec::new(); width],
    }
}

/// Where an expression's value comes from: the sources of every column it
/// reads, as `derivation` (or copied when it is a bare column, transformed
/// otherwise).
fn from_expr(
    expr: &Expr,
    input: &LogicalPlan,
    lineage: &Lineage,
    derivation: Option<Derivation>,
) -> Vec<ColumnSource> {
    let bare = matches!(unalias(expr), Expr::Column(_));
    let mut out = Vec::new();
    for column in expr.column_refs() {
        let Ok(i) = input.schema().index_of_column(column) else {
            continue;
        };
        for source in lineage.get(i).into_iter().flatten() {
            let derivation = match derivation {
                Some(d) => stronger(source.derivation, d),
                None if bare => source.derivation,
                None => stronger(source.derivation, Derivation::Transform),
            };
            out.push(ColumnSource {
                derivation,
                ..source.clone()
            });
        }
    }
    out
}

/// The sources a row condition (a filter, a join key) reads, as `kind`.
fn conditions(
    exprs: &[&Expr],
    input: &LogicalPlan,
    lineage: &Lineage,
    kind: Derivation,
) -> Vec<ColumnSource> {
    // Only the values a condition reads count; conditions upstream of
    // them are already on every row that survives.
    let mut out = Vec::new();
    for e in exprs {
        for column in e.column_refs() {
            let Ok(i) = input.schema().index_of_column(column) else {
                continue;
            };
            for source in lineage.get(i).into_iter().flatten() {
                if matches!(source.derivation, Derivation::Filter | Derivation::JoinKey) {
                    continue;
                }
                out.push(ColumnSource {
                    derivation: kind,
                    ..source.clone()
                });
            }
        }
    }
    out
}

fn unalias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => unalias(&a.expr),
        other => other,
    }
}

fn stronger(a: Derivation, b: Derivation) -> Derivation {
    a.max(b)
}

fn with_extra(mut lineage: Lineage, extra: &[ColumnSource]) -> Lineage {
    if extra.is_empty() {
        return lineage;
    }
    for sources in &mut lineage {
        sources.extend(extra.iter().cloned());
    }
    lineage
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyzer() -> Analyzer {
        let mut a = Analyzer::new().expect("analyzer");
        a.register(
            "seed.p.orders",
            "main",
            "orders",
            &TableSchema::from_declared([
                ("order_id", Some("bigint")),
                ("customer_id", Some("bigint")),
                ("amount", Some("double")),
                ("status", Some("varchar")),
            ])
            .expect("schema"),
        );
        a.register(
            "model.p.customers",
            "main",
            "customers",
            &TableSchema::from_declared([
                ("customer_id", Some("bigint")),
                ("name", Some("string")),
            ])
            .expect("schema"),
        );
        a
    }

    fn source(node: &str, column: &str, derivation: Derivation) -> ColumnSource {
        ColumnSource {
            node: node.into(),
            column: column.into(),
            derivation,
        }
    }

    #[test]
    fn lineage_follows_ctes_joins_windows_and_aggregates() {
        let a = analyzer();
        let sql = "with paid as (select customer_id, amount * 2 as doubled from main.orders where status = 'paid'), \
                   totals as (select customer_id, sum(doubled) as total from paid group by customer_id) \
                   select c.name, t.total, row_number() over (order by t.total) as rank \
                   from totals t join main.customers c on c.customer_id = t.customer_id";
        let (_, schema) = a.analyze(sql).expect("plans");
        assert_eq!(
            schema.columns,
            vec![
                ("name".to_string(), "varchar".to_string()),
                ("total".to_string(), "double".to_string()),
                ("rank".to_string(), "bigint unsigned".to_string()),
            ]
        );
        let orders = "seed.p.orders";
        let customers = "model.p.customers";
        let filter_and_keys = [
            source(orders, "customer_id", Derivation::JoinKey),
            source(orders, "status", Derivation::Filter),
            source(customers, "customer_id", Derivation::JoinKey),
        ];
        let mut name = vec![source(customers, "name", Derivation::Copy)];
        name.extend(filter_and_keys.iter().cloned());
        name.sort();
        assert_eq!(schema.lineage["name"], name);
        let mut total = vec![source(orders, "amount", Derivation::Aggregate)];
        total.extend(filter_and_keys.iter().cloned());
        total.sort();
        assert_eq!(schema.lineage["total"], total);
        assert!(
            schema.lineage["rank"].contains(&source(orders, "amount", Derivation::Aggregate)),
            "{:?}",
            schema.lineage["rank"]
        );
    }

    #[test]
    fn unknown_columns_and_functions_name_their_subject() {
        let a = analyzer();
        let err = a
            .analyze("select nme from main.customers")
            .expect_err("unknown column");
        assert_eq!(err.subject.as_deref(), Some("nme"), "{}", err.message);
        let err = a
            .analyze("select frobnicate(name) from main.customers")
            .expect_err("unknown function");
        assert_eq!(
            err.subject.as_deref(),
            Some("frobnicate"),
            "{}",
            err.message
        );
        let err = a
            .analyze("select name + 1 from main.customers where name > current_date()")
            .expect_err("type mismatch");
        assert!(
            err.message.to_lowercase().contains("utf8") || err.message.contains("Cannot"),
            "{}",
            err.message
        );
    }
}
