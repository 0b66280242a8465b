//! SQL that changes the warehouse: DML and DDL wherever dbt runs SQL
//! (hooks, `on-run-start/end`, `{% call statement %}`, `run_query`,
//! `run-operation`). DataFusion alone would run `CREATE TABLE` into memory
//! and refuse `INSERT` into a table it does not own, so these statements
//! are taken here and carried out on the Delta tables, one commit each:
//!
//! - `INSERT INTO t [(cols)] VALUES … | SELECT …`: an append;
//! - `UPDATE` and `DELETE`: the table rewritten without (or with changed)
//!   matching rows, so any predicate the engine plans works, subqueries
//!   included;
//! - `MERGE`: a Delta MERGE;
//! - `CREATE [OR REPLACE] TABLE [IF NOT EXISTS] … (cols) | AS SELECT`,
//!   `CREATE [OR REPLACE] VIEW`, `CREATE SCHEMA`, `DROP TABLE/VIEW/SCHEMA`,
//!   `TRUNCATE`, `ALTER TABLE … ADD/DROP/RENAME COLUMN`.
//!
//! Anything else is a query, planned as before. A statement that cannot run
//! is an error naming the statement, never a silent success.

use super::{Warehouse, WarehouseError, delta, quote, storage};
use crate::adapters::RelationKind;
use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Expr, cast, col, lit};
use datafusion::sql::sqlparser::ast::{
    self, AlterTableOperation, FromTable, MergeAction, MergeClauseKind, MergeInsertKind,
    ObjectName, ObjectType, SchemaName, Statement, TableFactor,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use deltalake::protocol::SaveMode;
use std::sync::Arc;

/// Whether `sql` is certainly one plain query (the common case, kept off
/// the statement parser).
fn plain_query(sql: &str) -> bool {
    let trimmed = sql.trim_start().trim_start_matches('(').trim_start();
    let first: String = trimmed
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    let body = sql.trim_end().trim_end_matches(';');
    matches!(
        first.as_str(),
        "select" | "with" | "values" | "show" | "describe"
    ) && !body.contains(';')
        && !trimmed.to_ascii_lowercase().contains("insert into")
}

fn ours(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_)
            | Statement::Merge(_)
            | Statement::CreateTable(_)
            | Statement::CreateView(_)
            | Statement::CreateSchema { .. }
            | Statement::Drop { .. }
            | Statement::Truncate(_)
            | Statement::AlterTable(_)
    )
}

/// An identifier as the engine resolves it: quoted as written, unquoted in
/// lower case.
fn ident(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_ascii_lowercase()
    }
}

/// `[database.]schema.name` (or `name`, in `main`) as (schema, name).
fn schema_and_name(name: &ObjectName) -> Result<(String, String), WarehouseError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| {
            p.as_ident()
                .map(ident)
                .ok_or_else(|| WarehouseError::Engine(format!("`{name}` is not a relation name")))
        })
        .collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [table] => Ok(("main".into(), table.clone())),
        [.., schema, table] => Ok((schema.clone(), table.clone())),
        [] => Err(WarehouseError::Engine(
            "a statement names no relation".into(),
        )),
    }
}

/// The rows-affected result DataFusion gives for DML: one `count` row.
fn count_batch(rows: u64) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::Int64,
        false,
    )]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![rows as i64]))])
        .map(|b| vec![b])
        .unwrap_or_default()
}

fn failed(statement: &Statement, why: impl std::fmt::Display) -> WarehouseError {
    let text = statement.to_string();
    let head: String = text.chars().take(80).collect();
    let more = if text.chars().count() > 80 { "…" } else { "" };
    WarehouseError::Engine(format!("{why}\n  in statement: {head}{more}"))
}

impl Warehouse {
    /// Runs `sql` when it is not one plain query: each statement in turn,
    /// those that change tables or schemas on the Delta tables. Returns the
    /// last statement's rows, or `None` for one plain query (the caller
    /// plans it, so its errors keep their usual form).
    pub(super) async fn run_statements(
        &self,
        sql: &str,
        node: Option<&str>,
    ) -> Result<Option<Vec<RecordBatch>>, WarehouseError> {
        if plain_query(sql) {
            return Ok(None);
        }
        // What does not parse here is left to the planner, whose message
        // points at the problem.
        let Ok(statements) = Parser::parse_sql(&GenericDialect {}, sql) else {
            return Ok(None);
        };
        if statements.len() <= 1 && !statements.iter().any(ours) {
            return Ok(None);
        }
        let mut last = Vec::new();
        for statement in statements {
            last = if ours(&statement) {
                self.run_statement(&statement, node)
                    .await
                    .map_err(|e| match e {
                        WarehouseError::Engine(m) if !m.contains("in statement:") => {
                            failed(&statement, m)
                        }
                        other => other,
                    })?
            } else {
                self.sql(&statement.to_string())
                    .await?
                    .collect()
                    .await
                    .map_err(WarehouseError::engine)?
            };
        }
        Ok(Some(last))
    }

    async fn run_statement(
        &self,
        statement: &Statement,
        node: Option<&str>,
    ) -> Result<Vec<RecordBatch>, WarehouseError> {
        let author = delta::Author {
            node,
            statement: Some(match statement {
                Statement::Insert(_) => "INSERT",
                Statement::Update(_) => "UPDATE",
                Statement::Delete(_) => "DELETE",
                Statement::Merge(_) => "MERGE",
                Statement::CreateTable(_) => "CREATE TABLE",
                Statement::Truncate(_) => "TRUNCATE",
                Statement::AlterTable(_) => "ALTER TABLE",
                _ => "SQL",
            }),
        };
        match statement {
            Statement::Insert(insert) => {
                let ast::TableObject::TableName(name) = &insert.table else {
                    return Err(failed(statement, "INSERT into a table function"));
                };
                let Some(source) = &insert.source else {
                    return Err(failed(statement, "INSERT needs VALUES or a SELECT"));
                };
                let columns: Vec<String> = insert
                    .columns
                    .iter()
                    .map(|c| {
                        c.0.last()
                            .and_then(|p| p.as_ident())
                            .map(ident)
                            .unwrap_or_default()
                    })
                    .collect();
                let rows = self
                    .insert(name, &columns, &source.to_string(), author)
                    .await?;
                Ok(count_batch(rows))
            }
            Statement::Delete(delete) => {
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) =
                    &delete.from;
                if delete.using.is_some() || from.len() != 1 || !from[0].joins.is_empty() {
                    return Err(failed(
                        statement,
                        "DELETE from more than one table is not supported; use a subquery in WHERE",
                    ));
                }
                let (name, alias) = table_factor(&from[0].relation, statement)?;
                let predicate = delete.selection.as_ref().map(|e| e.to_string());
                let rows = self
                    .delete(&name, alias.as_deref(), predicate, author)
                    .await?;
                Ok(count_batch(rows))
            }
            Statement::Update(update) => {
                if update.from.is_some() || !update.table.joins.is_empty() {
                    return Err(failed(
                        statement,
                        "UPDATE … FROM is not supported on the embedded warehouse; use MERGE",
                    ));
                }
                let (name, alias) = table_factor(&update.table.relation, statement)?;
                let mut sets = Vec::new();
                for a in &update.assignments {
                    let ast::AssignmentTarget::ColumnName(column) = &a.target else {
                        return Err(failed(statement, "UPDATE of a tuple of columns"));
                    };
                    let column = column
                        .0
                        .last()
                        .and_then(|p| p.as_ident())
                        .map(ident)
                        .unwrap_or_default();
                    sets.push((column, a.value.to_string()));
                }
                let predicate = update.selection.as_ref().map(|e| e.to_string());
                let rows = self
                    .update(&name, alias.as_deref(), &sets, predicate, author)
                    .await?;
                Ok(count_batch(rows))
            }
            Statement::Merge(merge) => self.merge_statement(merge, statement, author).await,
            Statement::CreateTable(create) => {
                let (schema, name) = schema_and_name(&create.name)?;
                if self.relation_kind(&schema, &name).is_some() {
                    if create.if_not_exists {
                        return Ok(count_batch(0));
                    }
                    if !create.or_replace {
                        return Err(failed(
                            statement,
                            format!(
                                "{schema}.{name} already exists (use CREATE OR REPLACE TABLE, or IF NOT EXISTS)"
                            ),
                        ));
                    }
                }
                let sql = match &create.query {
                    Some(query) => query.to_string(),
                    None if create.columns.is_empty() => {
                        return Err(failed(statement, "CREATE TABLE needs columns or AS SELECT"));
                    }
                    None => format!(
                        "SELECT {} WHERE FALSE",
                        create
                            .columns
                            .iter()
                            .map(|c| format!(
                                "CAST(NULL AS {}) AS {}",
                                c.data_type,
                                quote(&ident(&c.name))
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.ensure_schema_folder(&schema).await?;
                let rows = self
                    .write_table(&schema, &name, &sql, &super::WriteMode::Replace, node)
                    .await?;
                Ok(count_batch(rows))
            }
            Statement::CreateView(view) => {
                let (schema, name) = schema_and_name(&view.name)?;
                if let Some(kind) = self.relation_kind(&schema, &name) {
                    if view.if_not_exists {
                        return Ok(count_batch(0));
                    }
                    if !view.or_replace || kind == RelationKind::Table {
                        return Err(failed(
                            statement,
                            format!("{schema}.{name} already exists as a {kind:?}").to_lowercase(),
                        ));
                    }
                }
                self.ensure_schema_folder(&schema).await?;
                self.create_view(&schema, &name, &view.query.to_string())
                    .await?;
                Ok(count_batch(0))
            }
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => {
                let (SchemaName::Simple(name) | SchemaName::NamedAuthorization(name, _)) =
                    schema_name
                else {
                    return Err(failed(statement, "CREATE SCHEMA needs a name"));
                };
                let schema = name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map(ident)
                    .unwrap_or_default();
                if self.root.join(&schema).is_dir() && !if_not_exists {
                    return Err(failed(
                        statement,
                        format!("schema {schema} already exists (use IF NOT EXISTS)"),
                    ));
                }
                self.ensure_schema_folder(&schema).await?;
                Ok(count_batch(0))
            }
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => {
                for name in names {
                    self.drop_statement(*object_type, name, *if_exists, *cascade)
                        .await
                        .map_err(|e| failed(statement, e))?;
                }
                Ok(count_batch(0))
            }
            Statement::Truncate(truncate) => {
                for target in &truncate.table_names {
                    let (schema, name) = schema_and_name(&target.name)?;
                    self.require_table(&schema, &name)?;
                    let sql = format!(
                        "SELECT * FROM {}.{} WHERE FALSE",
                        quote(&schema),
                        quote(&name)
                    );
                    self.rewrite(&schema, &name, &sql, author).await?;
                }
                Ok(count_batch(0))
            }
            Statement::AlterTable(alter) => {
                let (schema, name) = schema_and_name(&alter.name)?;
                if self.relation_kind(&schema, &name).is_none() && alter.if_exists {
                    return Ok(count_batch(0));
                }
                self.require_table(&schema, &name)?;
                for op in &alter.operations {
                    self.alter(&schema, &name, op, author)
                        .await
                        .map_err(|e| failed(statement, e))?;
                }
                Ok(count_batch(0))
            }
            _ => Err(failed(statement, "not a statement rdbt runs here")),
        }
    }

    /// Creates the schema's folder and makes it known.
    async fn ensure_schema_folder(&self, schema: &str) -> Result<(), WarehouseError> {
        let dir = self.root.join(schema);
        std::fs::create_dir_all(&dir)
            .map_err(|e| WarehouseError::io("cannot create the schema folder", &dir, e))?;
        self.ensure_schema(schema).await
    }

    fn require_table(&self, schema: &str, name: &str) -> Result<(), WarehouseError> {
        match self.relation_kind(schema, name) {
            Some(RelationKind::Table) => Ok(()),
            Some(RelationKind::View) => Err(WarehouseError::Engine(format!(
                "{schema}.{name} is a view; only tables can be changed"
            ))),
            None => Err(WarehouseError::Engine(format!(
                "table {schema}.{name} does not exist; create it first (CREATE TABLE … or a model)"
            ))),
        }
    }

    /// The table's fields, as stored.
    async fn table_fields(&self, schema: &str, name: &str) -> Result<Vec<Field>, WarehouseError> {
        let df = self
            .ctx
            .table(datafusion::common::TableReference::partial(schema, name))
            .await
            .map_err(WarehouseError::engine)?;
        Ok(df
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect())
    }

    /// Replaces the table's rows (and schema) with `sql`'s, in one commit.
    async fn rewrite(
        &self,
        schema: &str,
        name: &str,
        sql: &str,
        author: delta::Author<'_>,
    ) -> Result<u64, WarehouseError> {
        let df = self.sql(sql).await?;
        self.rewrite_df(schema, name, df, author).await
    }

    async fn rewrite_df(
        &self,
        schema: &str,
        name: &str,
        df: datafusion::prelude::DataFrame,
        author: delta::Author<'_>,
    ) -> Result<u64, WarehouseError> {
        let dir = self.table_dir(schema, name);
        let rows = delta::write(&self.ctx, &dir, df, SaveMode::Overwrite, author).await?;
        self.invalidate(schema, name);
        Ok(rows)
    }

    /// `df`'s columns cast to `fields`' types (same order, same count).
    fn shaped(
        df: datafusion::prelude::DataFrame,
        fields: &[Field],
    ) -> Result<datafusion::prelude::DataFrame, WarehouseError> {
        let exprs: Vec<Expr> = df
            .schema()
            .iter()
            .zip(fields)
            .map(|((q, f), target)| {
                let c = col(Column::new(q.cloned(), f.name()));
                if f.data_type() == target.data_type() {
                    c.alias(target.name())
                } else {
                    cast(c, target.data_type().clone()).alias(target.name())
                }
            })
            .collect();
        df.select(exprs).map_err(WarehouseError::engine)
    }

    async fn insert(
        &self,
        name: &ObjectName,
        columns: &[String],
        source_sql: &str,
        author: delta::Author<'_>,
    ) -> Result<u64, WarehouseError> {
        let (schema, table) = schema_and_name(name)?;
        self.require_table(&schema, &table)?;
        let fields = self.table_fields(&schema, &table).await?;
        let df = self.sql(source_sql).await?;
        let given = df.schema().fields().len();
        let targets: Vec<&Field> = if columns.is_empty() {
            fields.iter().collect()
        } else {
            columns
                .iter()
                .map(|c| {
                    fields.iter().find(|f| f.name() == c).ok_or_else(|| {
                        WarehouseError::Engine(format!(
                            "table {schema}.{table} has no column `{c}` (it has {})",
                            fields
                                .iter()
                                .map(|f| f.name().as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })
                })
                .collect::<Result<_, _>>()?
        };
        if given != targets.len() {
            return Err(WarehouseError::Engine(format!(
                "INSERT gives {given} value(s) per row for {} column(s) of {schema}.{table}",
                targets.len()
            )));
        }
        let source: Vec<Expr> = df
            .schema()
            .iter()
            .map(|(q, f)| col(Column::new(q.cloned(), f.name())))
            .collect();
        let exprs: Vec<Expr> = fields
            .iter()
            .map(|f| {
                let value = match targets.iter().position(|t| t.name() == f.name()) {
                    Some(i) => source[i].clone(),
                    None => lit(ScalarValue::Null),
                };
                cast(value, f.data_type().clone()).alias(f.name())
            })
            .collect();
        let df = df.select(exprs).map_err(WarehouseError::engine)?;
        let dir = self.table_dir(&schema, &table);
        let rows = delta::write(&self.ctx, &dir, df, SaveMode::Append, author).await?;
        self.invalidate(&schema, &table);
        Ok(rows)
    }

    async fn delete(
        &self,
        name: &ObjectName,
        alias: Option<&str>,
        predicate: Option<String>,
        author: delta::Author<'_>,
    ) -> Result<u64, WarehouseError> {
        let (schema, table) = schema_and_name(name)?;
        self.require_table(&schema, &table)?;
        let relation = format!("{}.{}", quote(&schema), quote(&table));
        let from = match alias {
            Some(a) => format!("{relation} AS {a}"),
            None => relation.clone(),
        };
        let matched = predicate.as_deref().unwrap_or("TRUE");
        let affected = self
            .count(&format!(
                "SELECT count(*) FROM {from} WHERE ({matched}) IS TRUE"
            ))
            .await?;
        // `IS NOT TRUE` keeps rows whose predicate is NULL, and the engine
        // plans subqueries in it (not inside an expression of the select).
        let kept = format!("SELECT * FROM {from} WHERE ({matched}) IS NOT TRUE");
        let fields = self.table_fields(&schema, &table).await?;
        let df = Self::shaped(self.sql(&kept).await?, &fields)?;
        self.rewrite_df(&schema, &table, df, author).await?;
        Ok(affected)
    }

    async fn update(
        &self,
        name: &ObjectName,
        alias: Option<&str>,
        sets: &[(String, String)],
        predicate: Option<String>,
        author: delta::Author<'_>,
    ) -> Result<u64, WarehouseError> {
        let (schema, table) = schema_and_name(name)?;
        self.require_table(&schema, &table)?;
        let fields = self.table_fields(&schema, &table).await?;
        for (column, _) in sets {
            if !fields.iter().any(|f| f.name() == column) {
                return Err(WarehouseError::Engine(format!(
                    "table {schema}.{table} has no column `{column}`"
                )));
            }
        }
        let relation = format!("{}.{}", quote(&schema), quote(&table));
        let from = match alias {
            Some(a) => format!("{relation} AS {a}"),
            None => relation.clone(),
        };
        let matched = predicate.as_deref().unwrap_or("TRUE");
        // Changed rows and unchanged ones, each selected by the predicate
        // in WHERE (where the engine plans subqueries), as the new version.
        let select = fields
            .iter()
            .map(|f| match sets.iter().find(|(c, _)| c == f.name()) {
                Some((_, value)) => format!("({value}) AS {}", quote(f.name())),
                None => quote(f.name()),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let unchanged = fields
            .iter()
            .map(|f| quote(f.name()))
            .collect::<Vec<_>>()
            .join(", ");
        let affected = self
            .count(&format!(
                "SELECT count(*) FROM {from} WHERE ({matched}) IS TRUE"
            ))
            .await?;
        let changed = Self::shaped(
            self.sql(&format!(
                "SELECT {select} FROM {from} WHERE ({matched}) IS TRUE"
            ))
            .await?,
            &fields,
        )?;
        let kept = Self::shaped(
            self.sql(&format!(
                "SELECT {unchanged} FROM {from} WHERE ({matched}) IS NOT TRUE"
            ))
            .await?,
            &fields,
        )?;
        let df = changed.union(kept).map_err(WarehouseError::engine)?;
        self.rewrite_df(&schema, &table, df, author).await?;
        Ok(affected)
    }

    async fn count(&self, sql: &str) -> Result<u64, WarehouseError> {
        let batches = self
            .sql(sql)
            .await?
            .collect()
            .await
            .map_err(WarehouseError::engine)?;
        Ok(batches
            .first()
            .filter(|b| b.num_rows() > 0)
            .and_then(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .map(|a| a.value(0).max(0) as u64)
            })
            .unwrap_or(0))
    }

    async fn merge_statement(
        &self,
        merge: &ast::Merge,
        statement: &Statement,
        author: delta::Author<'_>,
    ) -> Result<Vec<RecordBatch>, WarehouseError> {
        let (name, target_alias) = table_factor(&merge.table, statement)?;
        let (schema, table) = schema_and_name(&name)?;
        self.require_table(&schema, &table)?;
        let target_alias = target_alias.unwrap_or_else(|| table.clone());
        let (source_sql, source_alias) = match &merge.source {
            TableFactor::Table { name, alias, .. } => (
                format!("SELECT * FROM {name}"),
                alias.as_ref().map(|a| ident(&a.name)).unwrap_or_else(|| {
                    name.0
                        .last()
                        .and_then(|p| p.as_ident())
                        .map(ident)
                        .unwrap_or_default()
                }),
            ),
            TableFactor::Derived {
                subquery, alias, ..
            } => (
                subquery.to_string(),
                alias
                    .as_ref()
                    .map(|a| ident(&a.name))
                    .ok_or_else(|| failed(statement, "the MERGE source subquery needs an alias"))?,
            ),
            _ => return Err(failed(statement, "MERGE from this kind of source")),
        };
        let fields = self.table_fields(&schema, &table).await?;
        let source = self.sql(&source_sql).await?;
        let dir = self.table_dir(&schema, &table);
        let Some(delta_table) = delta::open(&dir).await? else {
            return Err(failed(
                statement,
                format!("{schema}.{table} is not a table"),
            ));
        };
        let target_column = |c: &ObjectName| {
            c.0.last()
                .and_then(|p| p.as_ident())
                .map(ident)
                .unwrap_or_default()
        };
        let mut builder = delta_table
            .merge(source, merge.on.to_string())
            .with_source_alias(source_alias.clone())
            .with_target_alias(target_alias)
            .with_session_state(Arc::new(self.ctx.state()))
            .with_commit_properties(delta::commit(author));
        for clause in &merge.clauses {
            let predicate = clause.predicate.as_ref().map(|p| p.to_string());
            builder = match (&clause.clause_kind, &clause.action) {
                (MergeClauseKind::Matched, MergeAction::Update(u)) => {
                    builder.when_matched_update(|b| merge_update(b, &predicate, &u.assignments))
                }
                (MergeClauseKind::Matched, MergeAction::Delete { .. }) => builder
                    .when_matched_delete(|mut b| {
                        if let Some(p) = &predicate {
                            b = b.predicate(p.clone());
                        }
                        b
                    }),
                (
                    MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget,
                    MergeAction::Insert(insert),
                ) => {
                    let columns: Vec<String> = if insert.columns.is_empty() {
                        fields.iter().map(|f| f.name().clone()).collect()
                    } else {
                        insert.columns.iter().map(target_column).collect()
                    };
                    let values: Vec<String> = match &insert.kind {
                        MergeInsertKind::Values(values) => values
                            .rows
                            .first()
                            .map(|row| row.iter().map(|e| e.to_string()).collect())
                            .unwrap_or_default(),
                        MergeInsertKind::Row => columns
                            .iter()
                            .map(|c| format!("{source_alias}.{}", quote(c)))
                            .collect(),
                    };
                    if values.len() != columns.len() {
                        return Err(failed(
                            statement,
                            format!(
                                "MERGE INSERT gives {} value(s) for {} column(s)",
                                values.len(),
                                columns.len()
                            ),
                        ));
                    }
                    builder.when_not_matched_insert(|mut b| {
                        if let Some(p) = &predicate {
                            b = b.predicate(p.clone());
                        }
                        for (c, v) in columns.iter().zip(&values) {
                            b = b.set(Column::new_unqualified(c), v.clone());
                        }
                        b
                    })
                }
                (MergeClauseKind::NotMatchedBySource, MergeAction::Update(u)) => builder
                    .when_not_matched_by_source_update(|b| {
                        merge_update(b, &predicate, &u.assignments)
                    }),
                (MergeClauseKind::NotMatchedBySource, MergeAction::Delete { .. }) => builder
                    .when_not_matched_by_source_delete(|mut b| {
                        if let Some(p) = &predicate {
                            b = b.predicate(p.clone());
                        }
                        b
                    }),
                _ => {
                    return Err(failed(statement, "this MERGE clause is not supported"));
                }
            }
            .map_err(delta::delta_error)?;
        }
        let (_, metrics) = builder.await.map_err(delta::delta_error)?;
        self.invalidate(&schema, &table);
        Ok(count_batch(
            (metrics.num_target_rows_inserted
                + metrics.num_target_rows_updated
                + metrics.num_target_rows_deleted) as u64,
        ))
    }

    async fn drop_statement(
        &self,
        object_type: ObjectType,
        name: &ObjectName,
        if_exists: bool,
        cascade: bool,
    ) -> Result<(), WarehouseError> {
        if object_type == ObjectType::Schema {
            let schema = name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(ident)
                .unwrap_or_default();
            let dir = self.root.join(&schema);
            if !dir.is_dir() {
                return if if_exists {
                    Ok(())
                } else {
                    Err(WarehouseError::Engine(format!(
                        "schema {schema} does not exist"
                    )))
                };
            }
            let relations = storage::list(&self.root)
                .into_iter()
                .filter(|(s, _, _)| *s == schema)
                .flat_map(|(_, t, v)| t.into_iter().chain(v))
                .collect::<Vec<_>>();
            if !relations.is_empty() && !cascade {
                return Err(WarehouseError::Engine(format!(
                    "schema {schema} is not empty ({}); use DROP SCHEMA … CASCADE",
                    relations.join(", ")
                )));
            }
            for relation in &relations {
                self.drop_relation(&schema, relation).await?;
            }
            std::fs::remove_dir_all(&dir)
                .map_err(|e| WarehouseError::io("cannot drop the schema", &dir, e))?;
            return Ok(());
        }
        let (schema, table) = schema_and_name(name)?;
        let wanted = match object_type {
            ObjectType::Table => RelationKind::Table,
            ObjectType::View => RelationKind::View,
            other => {
                return Err(WarehouseError::Engine(format!(
                    "DROP {other} is not supported"
                )));
            }
        };
        match self.relation_kind(&schema, &table) {
            None if if_exists => Ok(()),
            None => Err(WarehouseError::Engine(format!(
                "{schema}.{table} does not exist (use IF EXISTS)"
            ))),
            Some(kind) if kind != wanted => Err(WarehouseError::Engine(format!(
                "{schema}.{table} is a {}, not a {}",
                kind_word(kind),
                kind_word(wanted)
            ))),
            Some(_) => self.drop_relation(&schema, &table).await,
        }
    }

    async fn alter(
        &self,
        schema: &str,
        table: &str,
        op: &AlterTableOperation,
        author: delta::Author<'_>,
    ) -> Result<(), WarehouseError> {
        let fields = self.table_fields(schema, table).await?;
        let has = |c: &str| fields.iter().any(|f| f.name() == c);
        let mut select: Vec<String> = fields.iter().map(|f| quote(f.name())).collect();
        match op {
            AlterTableOperation::AddColumn {
                if_not_exists,
                column_def,
                ..
            } => {
                let name = ident(&column_def.name);
                if has(&name) {
                    if *if_not_exists {
                        return Ok(());
                    }
                    return Err(WarehouseError::Engine(format!(
                        "{schema}.{table} already has a column `{name}`"
                    )));
                }
                select.push(format!(
                    "CAST(NULL AS {}) AS {}",
                    column_def.data_type,
                    quote(&name)
                ));
            }
            AlterTableOperation::DropColumn {
                column_names,
                if_exists,
                ..
            } => {
                for c in column_names {
                    let name = ident(c);
                    if !has(&name) {
                        if *if_exists {
                            continue;
                        }
                        return Err(WarehouseError::Engine(format!(
                            "{schema}.{table} has no column `{name}`"
                        )));
                    }
                    select.retain(|s| *s != quote(&name));
                }
                if select.is_empty() {
                    return Err(WarehouseError::Engine(format!(
                        "cannot drop every column of {schema}.{table}"
                    )));
                }
            }
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                let (old, new) = (ident(old_column_name), ident(new_column_name));
                if !has(&old) {
                    return Err(WarehouseError::Engine(format!(
                        "{schema}.{table} has no column `{old}`"
                    )));
                }
                if has(&new) {
                    return Err(WarehouseError::Engine(format!(
                        "{schema}.{table} already has a column `{new}`"
                    )));
                }
                for s in select.iter_mut() {
                    if *s == quote(&old) {
                        *s = format!("{} AS {}", quote(&old), quote(&new));
                    }
                }
            }
            other => {
                return Err(WarehouseError::Engine(format!(
                    "ALTER TABLE … {other} is not supported on the embedded warehouse"
                )));
            }
        }
        let sql = format!(
            "SELECT {} FROM {}.{}",
            select.join(", "),
            quote(schema),
            quote(table)
        );
        self.rewrite(schema, table, &sql, author).await?;
        Ok(())
    }
}

/// A MERGE's `UPDATE SET col = expr, …` clause, under its `AND` predicate.
fn merge_update(
    mut b: deltalake::operations::merge::UpdateBuilder,
    predicate: &Option<String>,
    assignments: &[ast::Assignment],
) -> deltalake::operations::merge::UpdateBuilder {
    if let Some(p) = predicate {
        b = b.predicate(p.clone());
    }
    for a in assignments {
        if let ast::AssignmentTarget::ColumnName(c) = &a.target {
            let column =
                c.0.last()
                    .and_then(|p| p.as_ident())
                    .map(ident)
                    .unwrap_or_default();
            b = b.update(Column::new_unqualified(column), a.value.to_string());
        }
    }
    b
}

fn kind_word(kind: RelationKind) -> &'static str {
    match kind {
        RelationKind::Table => "table",
        RelationKind::View => "view",
    }
}

/// The table a DML statement targets, and its alias.
fn table_factor(
    factor: &TableFactor,
    statement: &Statement,
) -> Result<(ObjectName, Option<String>), WarehouseError> {
    match factor {
        TableFactor::Table { name, alias, .. } => {
            Ok((name.clone(), alias.as_ref().map(|a| a.name.to_string())))
        }
        _ => Err(failed(statement, "the statement's target must be a table")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_queries_skip_the_statement_parser() {
        assert!(plain_query("select 1"));
        assert!(plain_query("  (SELECT 1) union all (select 2);"));
        assert!(plain_query("with a as (select 1) select * from a"));
        assert!(!plain_query("insert into t values (1)"));
        assert!(!plain_query("select 1; select 2"));
        assert!(!plain_query("create table t (a int)"));
    }
}
