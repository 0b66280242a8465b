//! Lazy schemas: a relation is planned only when a query uses it. Views are
//! stored SQL and planned on first use (their own inputs resolved the same
//! way); tables are opened at their live version. Opening a warehouse with
//! thousands of relations therefore costs nothing up front, and a write
//! drops the cached plans that could see old data.

use super::storage;
use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

pub struct LazySchema {
    root: PathBuf,
    schema: String,
    /// Weak: the context owns the catalog that owns this schema.
    ctx: Mutex<Weak<SessionContext>>,
    cache: Arc<Mutex<HashMap<String, Arc<dyn TableProvider>>>>,
    /// Session-only tables (staged rows, seed files being loaded).
    temps: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
    /// Where sources land; consulted for relations the warehouse lacks.
    land: Option<crate::store::Land>,
    /// Sources declared over files in place; they win over the land.
    externals: Arc<std::sync::RwLock<super::Externals>>,
    /// The catalog this schema is in when it is not the default one (an
    /// attached state warehouse): its views name relations of that catalog.
    catalog: Option<String>,
    /// Tables being audited: read from their candidate.
    audits: super::Audits,
}

impl std::fmt::Debug for LazySchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LazySchema({})", self.schema)
    }
}

impl LazySchema {
    pub fn new(
        root: PathBuf,
        schema: String,
        ctx: Weak<SessionContext>,
        cache: Arc<Mutex<HashMap<String, Arc<dyn TableProvider>>>>,
        land: Option<crate::store::Land>,
        externals: Arc<std::sync::RwLock<super::Externals>>,
    ) -> Self {
        LazySchema {
            root,
            schema,
            ctx: Mutex::new(ctx),
            cache,
            temps: Mutex::new(HashMap::new()),
            land,
            externals,
            catalog: None,
            audits: Default::default(),
        }
    }

    /// A schema of catalog `name` rather than the default one: its views
    /// name relations of that catalog.
    pub fn in_catalog(mut self, name: &str) -> Self {
        self.catalog = Some(name.to_string());
        self
    }

    /// Reads the tables being audited from their candidates.
    pub fn with_audits(mut self, audits: super::Audits) -> Self {
        self.audits = audits;
        self
    }

    /// The folder of table `name`: its audit candidate's while audited.
    fn table_dir(&self, name: &str) -> PathBuf {
        if lock(&self.audits).contains(&self.key(name)) {
            storage::audit_dir(&self.root, &self.schema, name)
        } else {
            storage::table_dir(&self.root, &self.schema, name)
        }
    }

    fn external(
        &self,
        name: &str,
    ) -> Option<(
        super::external::ExternalSource,
        std::collections::BTreeMap<String, String>,
    )> {
        let externals = self.externals.read().unwrap_or_else(|e| e.into_inner());
        externals
            .sources
            .get(&self.key(name))
            .map(|s| (s.clone(), externals.options.clone()))
    }

    fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.schema)
    }

    fn context(&self) -> Result<Arc<SessionContext>, DataFusionError> {
        self.ctx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .upgrade()
            .ok_or_else(|| DataFusionError::Internal("the warehouse was closed".into()))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl SchemaProvider for LazySchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = storage::list(&self.root)
            .into_iter()
            .filter(|(s, _, _)| *s == self.schema)
            .flat_map(|(_, tables, views)| tables.into_iter().chain(views))
            .collect();
        names.extend(lock(&self.temps).keys().cloned());
        let prefix = format!("{}.", self.schema);
        names.extend(
            self.externals
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .sources
                .keys()
                .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string)),
        );
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        if let Some(t) = lock(&self.temps).get(name) {
            return Ok(Some(t.clone()));
        }
        if let Some(t) = lock(&self.cache).get(&self.key(name)) {
            return Ok(Some(t.clone()));
        }
        let ctx = self.context()?;
        if let Some((source, options)) = self.external(name) {
            let provider = super::external::external_table(&ctx, &source, &options).await?;
            lock(&self.cache).insert(self.key(name), provider.clone());
            return Ok(Some(provider));
        }
        let dir = self.table_dir(name);
        let provider = if storage::is_table(&dir) {
            let table = super::delta::open(&dir)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
                .ok_or_else(|| DataFusionError::Plan(format!("{} vanished", dir.display())))?;
            super::delta::provider(&ctx, &table)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
        } else {
            let file = storage::view_file(&self.root, &self.schema, name);
            match std::fs::read_to_string(&file) {
                Ok(sql) => {
                    let state = in_catalog(ctx.state(), self.catalog.as_deref());
                    let schema = async {
                        let plan = state.create_logical_plan(&sql).await?;
                        super::declared_schema(&state, &plan)
                    }
                    .await
                    .map_err(|e| {
                        DataFusionError::Plan(format!(
                            "view {}.{name} no longer plans: {e}",
                            self.schema
                        ))
                    })?;
                    // Declared nullable: a reader planned as if a column
                    // could not be NULL fails in the engine ("Physical input
                    // schema ... nullability", #28 item 18) when the view's
                    // plan at scan time says otherwise.
                    let schema = Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(
                        schema
                            .fields()
                            .iter()
                            .map(|f| f.as_ref().clone().with_nullable(true))
                            .collect::<Vec<_>>(),
                        schema.metadata().clone(),
                    ));
                    Arc::new(SqlView {
                        sql,
                        schema,
                        ctx: Arc::downgrade(&ctx),
                        catalog: self.catalog.clone(),
                    }) as Arc<dyn TableProvider>
                }
                Err(_) => {
                    let Some(land) = &self.land else {
                        return Ok(None);
                    };
                    match super::land::land_table(&ctx, land, &self.schema, name).await? {
                        Some(table) => table,
                        None => return Ok(None),
                    }
                }
            }
        };
        lock(&self.cache).insert(self.key(name), provider.clone());
        Ok(Some(provider))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        Ok(lock(&self.temps).insert(name, table))
    }

    fn deregister_table(
        &self,
        name: &str,
    ) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        Ok(lock(&self.temps).remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        lock(&self.temps).contains_key(name)
            || self.external(name).is_some()
            || storage::is_table(&self.table_dir(name))
            || storage::view_file(&self.root, &self.schema, name).is_file()
    }
}

/// A view that stays opaque while other queries are planned: its SQL is
/// planned only when a query actually scans it. Inlining each view's plan
/// into its children (DataFusion's default for views) made a chain of views
/// grow with its whole ancestry, in time and memory, at every step.
pub struct SqlView {
    sql: String,
    schema: SchemaRef,
    ctx: Weak<SessionContext>,
    /// The catalog its names resolve in, when not the default one.
    catalog: Option<String>,
}

/// `state` resolving unqualified schemas in `catalog` (when given).
fn in_catalog(
    mut state: datafusion::execution::SessionState,
    catalog: Option<&str>,
) -> datafusion::execution::SessionState {
    if let Some(catalog) = catalog {
        state.config_mut().options_mut().catalog.default_catalog = catalog.to_string();
    }
    state
}

impl std::fmt::Debug for SqlView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqlView({} columns)", self.schema.fields().len())
    }
}

#[async_trait]
impl TableProvider for SqlView {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_table_definition(&self) -> Option<&str> {
        Some(&self.sql)
    }

    async fn scan(
        &self,
        outer: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        let ctx = self
            .ctx
            .upgrade()
            .ok_or_else(|| DataFusionError::Internal("the warehouse was closed".into()))?;
        // Planned with the scanning query's start time, so `now()` and
        // `current_timestamp` are one value in the query and every view it
        // reads, as in DuckDB.
        let mut state = in_catalog(ctx.state(), self.catalog.as_deref());
        state.execution_props_mut().query_execution_start_time =
            outer.execution_props().query_execution_start_time;
        let plan = state.create_logical_plan(&self.sql).await?;
        let df = datafusion::dataframe::DataFrame::new(state, plan);
        let df = match projection {
            Some(cols) => {
                let names: Vec<String> = cols
                    .iter()
                    .map(|i| self.schema.field(*i).name().clone())
                    .collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                df.select_columns(&refs)?
            }
            None => df,
        };
        let plan = df.create_physical_plan().await?;
        conform(plan, &self.schema, projection)
    }
}

/// `plan` with the columns the view declared (all, or `projection` of
/// them), cast where the executed types differ from the declared ones: a
/// reader planned against the declared schema must get it.
fn conform(
    plan: Arc<dyn ExecutionPlan>,
    declared: &SchemaRef,
    projection: Option<&Vec<usize>>,
) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
    use datafusion::physical_expr::expressions::{CastExpr, Column};
    use datafusion::physical_plan::projection::ProjectionExec;
    let wanted: Vec<usize> = match projection {
        Some(cols) => cols.clone(),
        None => (0..declared.fields().len()).collect(),
    };
    let actual = plan.schema();
    let same = wanted
        .iter()
        .zip(actual.fields())
        .all(|(i, f)| declared.field(*i).data_type() == f.data_type());
    // (A plan of other columns than asked is the planner's to report.)
    if same || wanted.len() != actual.fields().len() {
        return Ok(plan);
    }
    let mut exprs: Vec<(Arc<dyn datafusion::physical_expr::PhysicalExpr>, String)> = Vec::new();
    for (n, i) in wanted.iter().enumerate() {
        let field = declared.field(*i);
        let column = Arc::new(Column::new(actual.field(n).name(), n));
        let expr: Arc<dyn datafusion::physical_expr::PhysicalExpr> =
            if actual.field(n).data_type() == field.data_type() {
                column
            } else {
                Arc::new(CastExpr::new(column, field.data_type().clone(), None))
            };
        exprs.push((expr, field.name().clone()));
    }
    Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
}
