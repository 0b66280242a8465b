//! AST rewrites from BigQuery, DuckDB and Postgres SQL to DataFusion SQL.
//! Each rewrite keeps the source dialect's semantics; where DataFusion has
//! no equivalent, the call goes to one of rdbt's functions (`bq_*`, see
//! `functions.rs`). What cannot be kept faithful is an error.

use super::{SqlDialect, TranslateError};
use datafusion::sql::sqlparser;
use sqlparser::ast::{
    BinaryOperator, CaseWhen, CastKind, DataType, DateTimeField, ExactNumberInfo, Expr, Function,
    FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArgumentList, FunctionArguments,
    Ident, NullTreatment, ObjectName, ObjectNamePart, Select, SelectItem, Spanned, Statement,
    TableAliasColumnDef, TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut,
    helpers::attached_token::AttachedToken,
};
use sqlparser::ast::{SetExpr, Visit, Visitor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use std::ops::ControlFlow;

pub(super) fn rewrite_statement(
    statement: &mut Statement,
    dialect: SqlDialect,
) -> Result<(), TranslateError> {
    let mut rewriter = Rewriter { dialect };
    if let ControlFlow::Break(e) = statement.visit(&mut rewriter) {
        return Err(e);
    }
    if matches!(dialect, SqlDialect::DuckDb | SqlDialect::Postgres) {
        let _ = statement.visit(&mut IntegerLiterals);
    }
    Ok(())
}

/// DuckDB and Postgres type an integer literal that fits 32 bits as
/// INTEGER; DataFusion makes every one BIGINT. Where a literal becomes a
/// column's value (a select item, a CASE result, a `coalesce` argument, a
/// VALUES cell, a list element, and `typeof`'s argument) it is cast to
/// INTEGER, so `1 as flag` is an INTEGER column
/// as in DuckDB. Literals elsewhere keep BIGINT, the wider type: INTEGER
/// arithmetic wraps on DataFusion where DuckDB raises an overflow error,
/// and positions such as `LIMIT 10`, `ORDER BY 1` or a function's
/// literal argument need the literal itself. Only literals the user wrote
/// (with a position) are cast, not those of the translation's own SQL.
struct IntegerLiterals;

impl IntegerLiterals {
    fn as_integer(e: &mut Expr) {
        let literal = match e {
            Expr::UnaryOp {
                op: sqlparser::ast::UnaryOperator::Minus,
                expr,
            } => expr.as_mut(),
            other => other,
        };
        if let Expr::Value(v) = literal
            && v.span != sqlparser::tokenizer::Span::empty()
            && let Value::Number(text, false) = &v.value
            && text.parse::<i32>().is_ok()
        {
            let l = std::mem::replace(literal, Expr::value(Value::Null));
            *literal = cast(l, DataType::Int(None));
        }
    }
}

impl VisitorMut for IntegerLiterals {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for item in &mut select.projection {
            // An unnamed literal keeps its name (DataFusion names it after
            // its text); only named outputs are cast.
            if let SelectItem::ExprWithAlias { expr, .. } = item {
                Self::as_integer(expr);
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<()> {
        if let SetExpr::Values(values) = query.body.as_mut() {
            values
                .rows
                .iter_mut()
                .flat_map(|row| row.content.iter_mut())
                .for_each(Self::as_integer);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Case {
                conditions,
                else_result,
                ..
            } => {
                for c in conditions {
                    Self::as_integer(&mut c.result);
                }
                if let Some(e) = else_result {
                    Self::as_integer(e);
                }
            }
            Expr::Array(array) => array.elem.iter_mut().for_each(Self::as_integer),
            Expr::Function(f)
                if matches!(
                    function_name(f).1.as_str(),
                    "COALESCE" | "IFNULL" | "NVL" | "DUCKDB_TYPEOF"
                ) =>
            {
                if let FunctionArguments::List(list) = &mut f.args {
                    for arg in &mut list.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                            Self::as_integer(e);
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

struct Rewriter {
    dialect: SqlDialect,
}

impl VisitorMut for Rewriter {
    type Break = TranslateError;

    fn post_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<TranslateError> {
        if self.dialect == SqlDialect::BigQuery {
            split_backticked_path(name);
        }
        ControlFlow::Continue(())
    }

    /// BigQuery names unaliased computed columns `f0_`, `f1_`, ...;
    /// DataFusion would refuse two that print alike.
    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<TranslateError> {
        if self.dialect != SqlDialect::BigQuery {
            if matches!(self.dialect, SqlDialect::DuckDb | SqlDialect::Postgres) {
                full_join_using(select);
            }
            return ControlFlow::Continue(());
        }
        let mut anonymous = 0;
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(e) = item
                && !matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
            {
                *item = SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: Ident::new(format!("f{anonymous}_")),
                };
                anonymous += 1;
            }
        }
        ControlFlow::Continue(())
    }

    /// BigQuery's `"..."`, `r'...'` and `'''...'''` are all plain strings.
    fn post_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<TranslateError> {
        if self.dialect == SqlDialect::BigQuery {
            let text = match &value.value {
                Value::DoubleQuotedString(s)
                | Value::SingleQuotedRawStringLiteral(s)
                | Value::DoubleQuotedRawStringLiteral(s)
                | Value::TripleSingleQuotedString(s)
                | Value::TripleDoubleQuotedString(s)
                | Value::TripleSingleQuotedRawStringLiteral(s)
                | Value::TripleDoubleQuotedRawStringLiteral(s) => Some(s.clone()),
                _ => None,
            };
            if let Some(text) = text {
                value.value = Value::SingleQuotedString(text);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<TranslateError> {
        // BigQuery's `UNNEST(arr) AS x` names the element column `x`.
        if self.dialect == SqlDialect::BigQuery
            && let TableFactor::UNNEST {
                alias: Some(alias),
                with_offset: false,
                ..
            } = factor
            && alias.columns.is_empty()
        {
            alias.columns.push(TableAliasColumnDef {
                name: alias.name.clone(),
                data_type: None,
            });
        }
        ControlFlow::Continue(())
    }

    /// `UNNEST(arr) AS x WITH OFFSET AS o` (after `arr` is translated): the
    /// elements and their 0-based offsets, unnested side by side.
    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<TranslateError> {
        let TableFactor::UNNEST {
            with_offset: true,
            array_exprs,
            alias,
            with_offset_alias,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let span = array_exprs
            .first()
            .map_or(sqlparser::tokenizer::Span::empty(), Spanned::span);
        let [array] = array_exprs.as_slice() else {
            return ControlFlow::Break(TranslateError::at(
                "UNNEST of several arrays WITH OFFSET cannot run on DataFusion",
                span,
            ));
        };
        if references_columns(array) {
            return ControlFlow::Break(
                TranslateError::at(
                    "UNNEST ... WITH OFFSET over a column of another table cannot run on DataFusion yet",
                    span,
                )
                .with_help("unnest without WITH OFFSET, or number the elements with ROW_NUMBER() OVER (PARTITION BY ...)"),
            );
        }
        let value = alias
            .as_ref()
            .map_or("value".to_string(), |a| a.name.value.clone());
        let offset = with_offset_alias
            .as_ref()
            .map_or("offset".to_string(), |a| a.value.clone());
        let sql = format!(
            "SELECT * FROM (SELECT unnest(__rdbt_array) AS \"{value}\", unnest(range(0, cardinality(__rdbt_array))) AS \"{offset}\" FROM (SELECT {array} AS __rdbt_array) AS __rdbt_arrays) AS \"__rdbt_unnest_{value}\""
        );
        let parsed = Parser::parse_sql(&GenericDialect {}, &sql);
        let derived = parsed
            .ok()
            .and_then(|mut statements| match statements.pop() {
                Some(Statement::Query(q)) => match *q.body {
                    SetExpr::Select(mut select) => select.from.pop().map(|t| t.relation),
                    _ => None,
                },
                _ => None,
            });
        match derived {
            Some(relation) => {
                *factor = relation;
                ControlFlow::Continue(())
            }
            None => ControlFlow::Break(TranslateError::at(
                "this UNNEST ... WITH OFFSET could not be translated",
                span,
            )),
        }
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<TranslateError> {
        let result = match self.dialect {
            SqlDialect::BigQuery => bigquery_expr(expr),
            SqlDialect::DuckDb => duckdb_expr(expr),
            SqlDialect::Postgres => postgres_expr(expr),
            SqlDialect::DataFusion => Ok(()),
        };
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

/// `a FULL JOIN b USING (k)`: in DuckDB and Postgres (and BigQuery) `k` is
/// the coalesce of both sides, where DataFusion takes the left side's and
/// gives NULL for rows only the right side has.
///
/// Done for a FROM that is one chain of `USING` joins (inner, left, right
/// or full) with at least one right or full join, whose keys are the first
/// join's (or some of them): each join becomes `ON`, matching the right
/// relation to the key as merged so far (the left side's value after an
/// inner or left join, the first non-NULL of both after a right or full
/// one). A bare key means the merged key; `*` lists the first relation's
/// columns with each key merged in its place, then every other relation's
/// columns without the keys it was joined on, as DuckDB lists them. Other
/// chains (keys a later relation brings, a `*` with options) are left as
/// they are.
fn full_join_using(select: &mut Select) {
    use sqlparser::ast::{JoinConstraint, JoinOperator, WildcardAdditionalOptions};
    let [from] = select.from.as_mut_slice() else {
        return;
    };
    let Some(steps) = using_steps(from) else {
        return;
    };
    if !steps.iter().any(|(kind, _)| *kind == UsingKind::Coalesce) {
        return;
    }
    let same = |a: &Ident, b: &Ident| a.value.eq_ignore_ascii_case(&b.value);
    let all_keys: Vec<Ident> = steps[0].1.clone();
    if !steps
        .iter()
        .all(|(_, keys)| keys.iter().all(|k| all_keys.iter().any(|a| same(a, k))))
    {
        return;
    }
    let Some(qualifiers) = relation_qualifiers(from) else {
        return;
    };
    // A `*` with options of its own is left alone (and so is the join).
    if select.projection.iter().any(|item| {
        matches!(item, SelectItem::Wildcard(o) if *o != WildcardAdditionalOptions::default())
    }) {
        return;
    }
    let side = |q: &[Ident], k: &Ident| {
        let mut parts = q.to_vec();
        parts.push(k.clone());
        Expr::CompoundIdentifier(parts)
    };
    // The key as exposed after each join: starts as the first relation's.
    let mut merged: Vec<(Ident, Expr)> = all_keys
        .iter()
        .map(|k| (k.clone(), side(&qualifiers[0], k)))
        .collect();
    for (i, (join, (kind, keys))) in from.joins.iter_mut().zip(&steps).enumerate() {
        let right = &qualifiers[i + 1];
        let mut on: Option<Expr> = None;
        for k in keys {
            let Some((_, left)) = merged.iter_mut().find(|(m, _)| same(m, k)) else {
                return;
            };
            let condition = Expr::BinaryOp {
                left: Box::new(left.clone()),
                op: BinaryOperator::Eq,
                right: Box::new(side(right, k)),
            };
            on = Some(match on {
                None => condition,
                Some(a) => Expr::BinaryOp {
                    left: Box::new(a),
                    op: BinaryOperator::And,
                    right: Box::new(condition),
                },
            });
            if *kind == UsingKind::Coalesce {
                let mut args = match &*left {
                    Expr::Function(f) if function_name(f).1 == "COALESCE" => {
                        plain_args(f).unwrap_or_default()
                    }
                    other => vec![other.clone()],
                };
                args.push(side(right, k));
                *left = call("coalesce", args);
            }
        }
        let Some(on) = on else { return };
        let constraint = JoinConstraint::On(on);
        join.join_operator = match join.join_operator {
            JoinOperator::Join(_) | JoinOperator::Inner(_) => JoinOperator::Inner(constraint),
            JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => {
                JoinOperator::LeftOuter(constraint)
            }
            JoinOperator::Right(_) | JoinOperator::RightOuter(_) => {
                JoinOperator::RightOuter(constraint)
            }
            _ => JoinOperator::FullOuter(constraint),
        };
    }
    let merged_key = |i: &Ident| -> Option<Expr> {
        merged
            .iter()
            .find(|(k, _)| same(k, i))
            .map(|(_, e)| e.clone())
    };
    let bare_keys = |e: &mut Expr| {
        let _ = sqlparser::ast::visit_expressions_mut(e, |e| {
            if let Expr::Identifier(i) = e
                && let Some(m) = merged_key(i)
            {
                *e = m;
            }
            ControlFlow::<()>::Continue(())
        });
    };
    let mut projection = Vec::with_capacity(select.projection.len() + qualifiers.len());
    for item in std::mem::take(&mut select.projection) {
        match item {
            SelectItem::Wildcard(_) => {
                projection.extend(expanded_wildcard(&qualifiers, &merged, &steps));
            }
            SelectItem::UnnamedExpr(Expr::Identifier(i)) if merged_key(&i).is_some() => {
                let expr = merged_key(&i).unwrap_or(Expr::Identifier(i.clone()));
                projection.push(SelectItem::ExprWithAlias { expr, alias: i });
            }
            SelectItem::UnnamedExpr(mut e) => {
                bare_keys(&mut e);
                projection.push(SelectItem::UnnamedExpr(e));
            }
            SelectItem::ExprWithAlias { mut expr, alias } => {
                bare_keys(&mut expr);
                projection.push(SelectItem::ExprWithAlias { expr, alias });
            }
            other => projection.push(other),
        }
    }
    select.projection = projection;
    if let Some(w) = &mut select.selection {
        bare_keys(w);
    }
    if let Some(h) = &mut select.having {
        bare_keys(h);
    }
    if let sqlparser::ast::GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
        for e in exprs {
            bare_keys(e);
        }
    }
}

/// How a `USING` join exposes its keys.
#[derive(Clone, Copy, PartialEq)]
enum UsingKind {
    /// The merged key stays the left side's.
    KeepLeft,
    /// The merged key is the first non-NULL of the left and the right.
    Coalesce,
}

/// Each join's kind and `USING` keys; `None` when a join is of another kind
/// or constraint (the chain is then left alone).
fn using_steps(from: &sqlparser::ast::TableWithJoins) -> Option<Vec<(UsingKind, Vec<Ident>)>> {
    use sqlparser::ast::{JoinConstraint, JoinOperator};
    // Each join's kind and keys; any other join leaves the chain alone.
    let mut steps: Vec<(UsingKind, Vec<Ident>)> = Vec::with_capacity(from.joins.len());
    for join in &from.joins {
        let (kind, constraint) = match &join.join_operator {
            JoinOperator::Join(c) | JoinOperator::Inner(c) => (UsingKind::KeepLeft, c),
            JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (UsingKind::KeepLeft, c),
            JoinOperator::Right(c) | JoinOperator::RightOuter(c) | JoinOperator::FullOuter(c) => {
                (UsingKind::Coalesce, c)
            }
            _ => return None,
        };
        let JoinConstraint::Using(columns) = constraint else {
            return None;
        };
        let keys: Option<Vec<Ident>> = columns
            .iter()
            .map(|c| match c.0.as_slice() {
                [part] => part.as_ident().cloned(),
                _ => None,
            })
            .collect();
        match keys {
            Some(keys) if !keys.is_empty() => steps.push((kind, keys)),
            _ => return None,
        }
    }
    Some(steps)
}

/// How each relation of `from` qualifies its columns: its alias, else its
/// name; `None` when one has neither.
fn relation_qualifiers(from: &sqlparser::ast::TableWithJoins) -> Option<Vec<Vec<Ident>>> {
    let qualifier = |t: &TableFactor| -> Option<Vec<Ident>> {
        match t {
            TableFactor::Table { alias: Some(a), .. }
            | TableFactor::Derived { alias: Some(a), .. } => Some(vec![a.name.clone()]),
            TableFactor::Table {
                name, alias: None, ..
            } => name
                .0
                .iter()
                .map(|p| p.as_ident().cloned())
                .collect::<Option<Vec<_>>>(),
            _ => None,
        }
    };
    std::iter::once(&from.relation)
        .chain(from.joins.iter().map(|j| &j.relation))
        .map(qualifier)
        .collect()
}

/// `*` over a `USING` chain as DuckDB lists it: the first relation's
/// columns with each key merged in its place, then every other relation's
/// columns without the keys it was joined on.
fn expanded_wildcard(
    qualifiers: &[Vec<Ident>],
    merged: &[(Ident, Expr)],
    steps: &[(UsingKind, Vec<Ident>)],
) -> Vec<SelectItem> {
    use sqlparser::ast::{
        ExcludeSelectItem, ReplaceSelectElement, ReplaceSelectItem,
        SelectItemQualifiedWildcardKind, WildcardAdditionalOptions,
    };
    let mut projection = Vec::with_capacity(qualifiers.len());
    let wildcard = |q: &[Ident], options| {
        SelectItem::QualifiedWildcard(
            SelectItemQualifiedWildcardKind::ObjectName(ObjectName::from(q.to_vec())),
            options,
        )
    };
    projection.push(wildcard(
        &qualifiers[0],
        WildcardAdditionalOptions {
            opt_replace: Some(ReplaceSelectItem {
                items: merged
                    .iter()
                    .map(|(k, e)| {
                        Box::new(ReplaceSelectElement {
                            expr: e.clone(),
                            column_name: k.clone(),
                            as_keyword: true,
                        })
                    })
                    .collect(),
            }),
            ..Default::default()
        },
    ));
    for (q, (_, keys)) in qualifiers[1..].iter().zip(steps) {
        let exclude = ExcludeSelectItem::Multiple(
            keys.iter()
                .map(|k| ObjectName::from(vec![k.clone()]))
                .collect(),
        );
        projection.push(wildcard(
            q,
            WildcardAdditionalOptions {
                opt_exclude: Some(exclude),
                ..Default::default()
            },
        ));
    }
    projection
}

/// `` `project.dataset.table` `` is one quoted identifier in BigQuery; the
/// local warehouse has `schema.table`, so the project part is dropped,
/// except the catalog `--defer` attaches the state's warehouse as.
fn split_backticked_path(name: &mut ObjectName) {
    let mut parts: Vec<Ident> = Vec::new();
    for part in &name.0 {
        if let ObjectNamePart::Identifier(ident) = part {
            if ident.quote_style == Some('`') && ident.value.contains('.') {
                parts.extend(ident.value.split('.').map(|p| Ident::with_quote('"', p)));
            } else {
                let mut ident = ident.clone();
                if ident.quote_style == Some('`') {
                    ident.quote_style = Some('"');
                }
                parts.push(ident);
            }
        } else {
            return;
        }
    }
    if parts.len() == 3 && parts[0].value != super::STATE_CATALOG {
        parts.remove(0);
    }
    name.0 = parts.into_iter().map(ObjectNamePart::Identifier).collect();
}

/// Whether an expression reads a column (so it cannot move into a derived
/// table of its own).
fn references_columns(e: &Expr) -> bool {
    struct Finder(bool);
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder(false);
    let _ = e.visit(&mut finder);
    finder.0
}

// ---- helpers to build and read the AST ----

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

fn string(s: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(s.to_string()))
}

fn number(n: i64) -> Expr {
    Expr::value(Value::Number(n.to_string(), false))
}

fn cast(expr: Expr, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(expr),
        data_type,
        array: false,
        format: None,
    }
}

/// `a / b` as floating-point division, whatever the operands' types.
fn divide_as_double(left: &mut Box<Expr>) {
    let l = std::mem::replace(left.as_mut(), Expr::value(Value::Null));
    **left = cast(l, double());
}

fn double() -> DataType {
    DataType::Double(ExactNumberInfo::None)
}

fn case_when(condition: Expr, then: Expr, otherwise: Option<Expr>) -> Expr {
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen {
            condition,
            result: then,
        }],
        else_result: otherwise.map(Box::new),
    }
}

fn nested(e: Expr) -> Expr {
    Expr::Nested(Box::new(e))
}

/// The function's name, upper-cased, with an optional `SAFE.` prefix split off.
fn function_name(f: &Function) -> (bool, String) {
    let parts: Vec<String> = f
        .name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.to_ascii_uppercase()))
        .collect();
    match parts.as_slice() {
        [safe, name] if safe == "SAFE" => (true, name.clone()),
        _ => (false, parts.join(".")),
    }
}

/// The plain positional arguments, or `None` when the call has clauses,
/// named arguments or wildcards that a rewrite would lose.
fn plain_args(f: &Function) -> Option<Vec<Expr>> {
    match &f.args {
        FunctionArguments::None => Some(Vec::new()),
        FunctionArguments::List(list) if list.clauses.is_empty() => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// A date part written as a bare word (`MONTH`, `WEEK(MONDAY)`), as text.
fn date_part(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        Expr::Function(f) => {
            let (_, name) = function_name(f);
            let args = plain_args(f)?;
            match (name.as_str(), args.as_slice()) {
                ("WEEK", [Expr::Identifier(day)]) => {
                    Some(format!("week({})", day.value.to_ascii_lowercase()))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn datetime_field_name(field: &DateTimeField) -> Option<String> {
    let name = match field {
        DateTimeField::Year | DateTimeField::Years => "year",
        DateTimeField::Month | DateTimeField::Months => "month",
        DateTimeField::Week(None) | DateTimeField::Weeks => "week",
        DateTimeField::Week(Some(day)) => {
            return Some(format!("week({})", day.value.to_ascii_lowercase()));
        }
        DateTimeField::Day | DateTimeField::Days => "day",
        DateTimeField::DayOfWeek | DateTimeField::Dow => "dayofweek",
        DateTimeField::DayOfYear | DateTimeField::Doy => "dayofyear",
        DateTimeField::Hour | DateTimeField::Hours => "hour",
        DateTimeField::Minute | DateTimeField::Minutes => "minute",
        DateTimeField::Second | DateTimeField::Seconds => "second",
        DateTimeField::Millisecond | DateTimeField::Milliseconds => "millisecond",
        DateTimeField::Microsecond | DateTimeField::Microseconds => "microsecond",
        DateTimeField::Quarter => "quarter",
        DateTimeField::Isoyear => "isoyear",
        DateTimeField::IsoWeek => "isoweek",
        DateTimeField::Date => "date",
        DateTimeField::Custom(i) => return Some(i.value.to_ascii_lowercase()),
        _ => return None,
    };
    Some(name.to_string())
}

/// `INTERVAL n PART` as (n, part).
fn interval_parts(e: &Expr) -> Option<(Expr, String)> {
    match e {
        Expr::Interval(i) if i.last_field.is_none() => {
            let part = datetime_field_name(i.leading_field.as_ref()?)?;
            Some(((*i.value).clone(), part))
        }
        _ => None,
    }
}

fn unsupported(what: &str, e: &Expr, help: &str) -> TranslateError {
    TranslateError::at(
        format!("{what} cannot run faithfully on DataFusion"),
        e.span(),
    )
    .with_help(help.to_string())
}

/// BigQuery type names as DataFusion names them.
fn bigquery_type(t: &DataType) -> Option<DataType> {
    Some(match t {
        DataType::Int64 => DataType::BigInt(None),
        DataType::Float64 => double(),
        DataType::String(_) => DataType::Varchar(None),
        DataType::Bool => DataType::Boolean,
        DataType::Bytes(_) => DataType::Bytea,
        DataType::Numeric(ExactNumberInfo::None) => {
            DataType::Decimal(ExactNumberInfo::PrecisionAndScale(38, 9))
        }
        DataType::Numeric(info) => DataType::Decimal(*info),
        DataType::BigNumeric(ExactNumberInfo::None) => {
            DataType::Decimal(ExactNumberInfo::PrecisionAndScale(76, 38))
        }
        DataType::BigNumeric(info) => DataType::Decimal(*info),
        DataType::Datetime(_) => DataType::Timestamp(None, sqlparser::ast::TimezoneInfo::None),
        _ => return None,
    })
}

fn bigquery_expr(expr: &mut Expr) -> Result<(), TranslateError> {
    if let Expr::Function(f) = expr {
        let f = f.clone();
        return bigquery_function(f, expr);
    }
    match expr {
        Expr::Cast {
            kind,
            data_type,
            expr: inner,
            ..
        } => {
            // FLOAT64 → INT64 rounds (halves away from zero) in BigQuery.
            if matches!(
                data_type,
                DataType::Int64 | DataType::BigInt(_) | DataType::Integer(_) | DataType::Int(_)
            ) {
                let safe = matches!(kind, CastKind::SafeCast | CastKind::TryCast);
                *expr = call(
                    "bq_int64",
                    vec![(**inner).clone(), Expr::value(Value::Boolean(safe))],
                );
                return Ok(());
            }
            if *kind == CastKind::SafeCast {
                *kind = CastKind::TryCast;
            }
            if let Some(t) = bigquery_type(data_type) {
                *data_type = t;
            }
            Ok(())
        }
        // Only inside EXTRACT in BigQuery: the wall time in that zone.
        Expr::AtTimeZone {
            timestamp,
            time_zone,
        } => {
            *expr = call(
                "bq_to_zone",
                vec![(**timestamp).clone(), (**time_zone).clone()],
            );
            Ok(())
        }
        // `/` always returns FLOAT64 in BigQuery.
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Divide,
            ..
        } => {
            divide_as_double(left);
            Ok(())
        }
        Expr::Extract {
            field, expr: inner, ..
        } => {
            let Some(part) = datetime_field_name(field) else {
                return Err(unsupported(
                    &format!("EXTRACT({field})"),
                    expr,
                    "extract one of YEAR, QUARTER, MONTH, WEEK, ISOWEEK, ISOYEAR, DAY, DAYOFWEEK, DAYOFYEAR, HOUR, MINUTE, SECOND",
                ));
            };
            let inner = (**inner).clone();
            *expr = if part == "date" {
                cast(inner, DataType::Date)
            } else {
                call("bq_extract", vec![string(&part), inner])
            };
            Ok(())
        }
        Expr::TypedString(typed) => {
            match &typed.data_type {
                DataType::Timestamp(..) | DataType::Datetime(_) => {
                    let literal = Expr::Value(typed.value.clone());
                    *expr = call(
                        "bq_timestamp",
                        vec![literal, Expr::value(Value::Boolean(false))],
                    );
                }
                other => {
                    if let Some(t) = bigquery_type(other) {
                        typed.data_type = t;
                    }
                }
            }
            Ok(())
        }
        Expr::Struct { values, fields } => {
            let mut args = Vec::new();
            for (i, v) in values.iter().enumerate() {
                let (name, value) = match v {
                    Expr::Named { expr, name } => (name.value.clone(), (**expr).clone()),
                    other => (
                        fields
                            .get(i)
                            .and_then(|f| f.field_name.as_ref())
                            .map(|n| n.value.clone())
                            .unwrap_or_else(|| format!("_field_{}", i + 1)),
                        other.clone(),
                    ),
                };
                args.push(string(&name));
                args.push(value);
            }
            *expr = call("named_struct", args);
            Ok(())
        }
        _ => Ok(()),
    }
}

fn bigquery_function(f: Function, expr: &mut Expr) -> Result<(), TranslateError> {
    let (safe, name) = function_name(&f);
    let args = plain_args(&f);
    let need = |n: std::ops::RangeInclusive<usize>| -> Result<Vec<Expr>, TranslateError> {
        match &args {
            Some(a) if n.contains(&a.len()) => Ok(a.clone()),
            _ => Err(unsupported(
                &format!("this form of {name}()"),
                expr,
                &format!(
                    "{name} takes {} plain argument(s) here",
                    if n.start() == n.end() {
                        n.start().to_string()
                    } else {
                        format!("{} to {}", n.start(), n.end())
                    }
                ),
            )),
        }
    };
    if safe && !SAFE_CAPABLE.contains(&name.as_str()) {
        return Err(unsupported(
            &format!("SAFE.{name}"),
            expr,
            &format!("SAFE. works here with {}", SAFE_CAPABLE.join(", ")),
        ));
    }
    let safe_flag = Expr::value(Value::Boolean(safe));
    let new = match name.as_str() {
        "IFNULL" => call("coalesce", need(2..=2)?),
        "IF" => {
            let a = need(3..=3)?;
            case_when(a[0].clone(), a[1].clone(), Some(a[2].clone()))
        }
        "COUNTIF" => {
            let a = need(1..=1)?;
            let mut counted = Function {
                name: ObjectName::from(vec![Ident::new("count")]),
                ..f.clone()
            };
            counted.args = FunctionArguments::List(FunctionArgumentList {
                duplicate_treatment: None,
                args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(case_when(
                    a[0].clone(),
                    number(1),
                    None,
                )))],
                clauses: Vec::new(),
            });
            Expr::Function(counted)
        }
        "LOGICAL_AND" => renamed(&f, "bool_and"),
        "LOGICAL_OR" => renamed(&f, "bool_or"),
        "APPROX_COUNT_DISTINCT" => renamed(&f, "approx_distinct"),
        "ARRAY_AGG" => array_agg(&f, expr)?,
        "SAFE_DIVIDE" => {
            let a = need(2..=2)?;
            case_when(
                Expr::BinaryOp {
                    left: Box::new(nested(a[1].clone())),
                    op: BinaryOperator::Eq,
                    right: Box::new(number(0)),
                },
                Expr::value(Value::Null),
                Some(Expr::BinaryOp {
                    left: Box::new(cast(a[0].clone(), double())),
                    op: BinaryOperator::Divide,
                    right: Box::new(nested(a[1].clone())),
                }),
            )
        }
        "DIV" => {
            let a = need(2..=2)?;
            nested(Expr::BinaryOp {
                left: Box::new(cast(a[0].clone(), DataType::BigInt(None))),
                op: BinaryOperator::Divide,
                right: Box::new(cast(a[1].clone(), DataType::BigInt(None))),
            })
        }
        "MOD" => {
            let a = need(2..=2)?;
            nested(Expr::BinaryOp {
                left: Box::new(nested(a[0].clone())),
                op: BinaryOperator::Modulo,
                right: Box::new(nested(a[1].clone())),
            })
        }
        "UNNEST" | "STARTS_WITH" | "ENDS_WITH" | "COALESCE" | "NULLIF" => return Ok(()),
        _ => {
            let c = BqCall {
                name: name.as_str(),
                f: &f,
                args: &args,
                expr,
                safe_flag: &safe_flag,
                need: &need,
            };
            match bigquery_date_function(&c)? {
                Some(new) => new,
                None => match bigquery_text_function(&c)? {
                    Some(new) => new,
                    None => return Ok(()),
                },
            }
        }
    };
    *expr = new;
    Ok(())
}

/// A BigQuery function call being translated: its upper-case name, the
/// call, its plain arguments, and `need(n..=m)` (the arguments, or an error
/// saying how many the function takes).
struct BqCall<'a> {
    name: &'a str,
    f: &'a Function,
    args: &'a Option<Vec<Expr>>,
    expr: &'a Expr,
    safe_flag: &'a Expr,
    need: &'a dyn Fn(std::ops::RangeInclusive<usize>) -> Result<Vec<Expr>, TranslateError>,
}

/// Dates, datetimes and timestamps: construction, truncation, arithmetic,
/// differences, `LAST_DAY`.
fn bigquery_date_function(c: &BqCall<'_>) -> Result<Option<Expr>, TranslateError> {
    let BqCall {
        args, expr, need, ..
    } = c;
    let name = c.name.to_string();
    let safe_flag = c.safe_flag.clone();
    Ok(Some(match c.name {
        "DATE" => {
            let a = need(1..=3)?;
            match a.len() {
                1 => call("bq_date", vec![a[0].clone(), safe_flag]),
                3 => call("make_date", a),
                // The date of a TIMESTAMP in that zone.
                _ => call(
                    "bq_date",
                    vec![
                        call("bq_to_zone", vec![a[0].clone(), a[1].clone()]),
                        safe_flag,
                    ],
                ),
            }
        }
        // DATETIME(ts, zone): the wall time of a TIMESTAMP in that zone.
        "DATETIME" => {
            let a = need(1..=2)?;
            let value = call("bq_timestamp", vec![a[0].clone(), safe_flag]);
            match a.get(1) {
                Some(zone) => call("bq_to_zone", vec![value, zone.clone()]),
                None => value,
            }
        }
        // TIMESTAMP(text_or_datetime, zone): that wall time in that zone.
        "TIMESTAMP" => {
            let a = need(1..=2)?;
            let value = call("bq_timestamp", vec![a[0].clone(), safe_flag]);
            match a.get(1) {
                Some(zone) => call("bq_from_zone", vec![value, zone.clone()]),
                None => value,
            }
        }
        "CURRENT_DATE" | "CURRENT_DATETIME" if args.as_ref().is_some_and(|a| a.len() == 1) => {
            let a = need(1..=1)?;
            let local = call("bq_to_zone", vec![call("now", Vec::new()), a[0].clone()]);
            if name == "CURRENT_DATE" {
                call("bq_date", vec![local, Expr::value(Value::Boolean(false))])
            } else {
                local
            }
        }
        "DATE_TRUNC" | "DATETIME_TRUNC" | "TIMESTAMP_TRUNC" => {
            let a = need(2..=2)?;
            let part = date_part(&a[1]).ok_or_else(|| {
                unsupported(
                    &format!("{name} with this date part"),
                    expr,
                    "write the part as a bare word: DATE_TRUNC(d, MONTH)",
                )
            })?;
            let udf = if name == "DATE_TRUNC" {
                "bq_date_trunc"
            } else {
                "bq_timestamp_trunc"
            };
            call(udf, vec![a[0].clone(), string(&part)])
        }
        "DATE_ADD" | "DATE_SUB" | "DATETIME_ADD" | "DATETIME_SUB" | "TIMESTAMP_ADD"
        | "TIMESTAMP_SUB" => {
            let a = need(2..=2)?;
            let (n, part) = interval_parts(&a[1]).ok_or_else(|| {
                unsupported(
                    &format!("{name} without INTERVAL n PART"),
                    expr,
                    "write the amount as INTERVAL n DAY (or MONTH, ...)",
                )
            })?;
            let n = if name.ends_with("_SUB") {
                Expr::UnaryOp {
                    op: sqlparser::ast::UnaryOperator::Minus,
                    expr: Box::new(nested(n)),
                }
            } else {
                n
            };
            let udf = if name.starts_with("DATE_") {
                "bq_date_add"
            } else {
                "bq_timestamp_add"
            };
            call(
                udf,
                vec![a[0].clone(), cast(n, DataType::BigInt(None)), string(&part)],
            )
        }
        "DATE_DIFF" | "DATETIME_DIFF" | "TIMESTAMP_DIFF" => {
            let a = need(3..=3)?;
            let part = date_part(&a[2]).ok_or_else(|| {
                unsupported(
                    &format!("{name} with this date part"),
                    expr,
                    "write the part as a bare word: DATE_DIFF(a, b, DAY)",
                )
            })?;
            let udf = match name.as_str() {
                "DATE_DIFF" => "bq_date_diff",
                "DATETIME_DIFF" => "bq_datetime_diff",
                _ => "bq_timestamp_diff",
            };
            call(udf, vec![a[0].clone(), a[1].clone(), string(&part)])
        }
        "LAST_DAY" => {
            let a = need(1..=2)?;
            let part = match a.get(1) {
                Some(p) => date_part(p).ok_or_else(|| {
                    unsupported(
                        "LAST_DAY with this date part",
                        expr,
                        "use MONTH, QUARTER, YEAR, WEEK or ISOWEEK",
                    )
                })?,
                None => "month".into(),
            };
            call("bq_last_day", vec![a[0].clone(), string(&part)])
        }
        _ => return Ok(None),
    }))
}

/// Formatting and parsing times, generated arrays, JSON paths, regular
/// expressions, `SPLIT`, `FORMAT`, `STRING_AGG`.
fn bigquery_text_function(c: &BqCall<'_>) -> Result<Option<Expr>, TranslateError> {
    let BqCall { f, expr, need, .. } = c;
    let safe_flag = c.safe_flag.clone();
    Ok(Some(match c.name {
        "FORMAT_DATE" | "FORMAT_DATETIME" | "FORMAT_TIMESTAMP" => {
            let a = need(2..=3)?;
            // FORMAT_TIMESTAMP(fmt, ts, zone) formats the wall time there.
            let value = match a.get(2) {
                Some(zone) => call("bq_to_zone", vec![a[1].clone(), zone.clone()]),
                None => a[1].clone(),
            };
            call("bq_format_date", vec![a[0].clone(), value])
        }
        "PARSE_DATE" => {
            let a = need(2..=2)?;
            call("bq_parse_date", vec![a[0].clone(), a[1].clone(), safe_flag])
        }
        "PARSE_DATETIME" | "PARSE_TIMESTAMP" => {
            let a = need(2..=2)?;
            call(
                "bq_parse_timestamp",
                vec![a[0].clone(), a[1].clone(), safe_flag],
            )
        }
        "GENERATE_DATE_ARRAY" => {
            let a = need(2..=3)?;
            let (n, part) = match a.get(2) {
                Some(i) => interval_parts(i).ok_or_else(|| {
                    unsupported(
                        "GENERATE_DATE_ARRAY step",
                        expr,
                        "write the step as INTERVAL n DAY (or WEEK, MONTH, ...)",
                    )
                })?,
                None => (number(1), "day".into()),
            };
            call(
                "bq_generate_date_array",
                vec![
                    a[0].clone(),
                    a[1].clone(),
                    cast(n, DataType::BigInt(None)),
                    string(&part),
                ],
            )
        }
        // Inclusive bounds, as DataFusion's generate_series.
        "GENERATE_ARRAY" => {
            let a = need(2..=3)?;
            call(
                "generate_series",
                a.into_iter()
                    .map(|x| cast(x, DataType::BigInt(None)))
                    .collect(),
            )
        }
        "JSON_VALUE" | "JSON_EXTRACT_SCALAR" => {
            let a = need(1..=2)?;
            let path = a.get(1).cloned().unwrap_or_else(|| string("$"));
            call("bq_json_value", vec![a[0].clone(), path])
        }
        "JSON_QUERY" | "JSON_EXTRACT" => {
            let a = need(1..=2)?;
            let path = a.get(1).cloned().unwrap_or_else(|| string("$"));
            call("bq_json_query", vec![a[0].clone(), path])
        }
        "REGEXP_CONTAINS" => call("regexp_like", need(2..=2)?),
        "REGEXP_EXTRACT" => call("bq_regexp_extract", need(2..=2)?),
        "REGEXP_REPLACE" => {
            let mut a = need(3..=3)?;
            a.push(string("g"));
            call("regexp_replace", a)
        }
        "SPLIT" => {
            let mut a = need(1..=2)?;
            if a.len() == 1 {
                a.push(string(","));
            }
            call("string_to_array", a)
        }
        "FORMAT" => call("bq_format", need(1..=16)?),
        "STRING_AGG" => {
            let mut f = Function::clone(f);
            f.name = ObjectName::from(vec![Ident::new("string_agg")]);
            if let FunctionArguments::List(list) = &mut f.args
                && list.args.len() == 1
            {
                list.args
                    .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(string(","))));
            }
            Expr::Function(f)
        }
        _ => return Ok(None),
    }))
}

/// Functions whose `SAFE.` form rdbt can honour (they return NULL instead
/// of failing).
const SAFE_CAPABLE: &[&str] = &[
    "PARSE_DATE",
    "PARSE_DATETIME",
    "PARSE_TIMESTAMP",
    "DATE",
    "TIMESTAMP",
    "DATETIME",
];

fn renamed(f: &Function, to: &str) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(to)]),
        ..f.clone()
    })
}

/// `ARRAY_AGG(x [IGNORE NULLS] [ORDER BY ...] [LIMIT n])`.
fn array_agg(f: &Function, expr: &Expr) -> Result<Expr, TranslateError> {
    let FunctionArguments::List(list) = &f.args else {
        return Err(unsupported(
            "this form of ARRAY_AGG()",
            expr,
            "ARRAY_AGG takes one value",
        ));
    };
    let mut out = f.clone();
    out.name = ObjectName::from(vec![Ident::new("array_agg")]);
    let mut clauses = Vec::new();
    let mut ignore_nulls = f.null_treatment == Some(NullTreatment::IgnoreNulls);
    let mut limit = None;
    for clause in &list.clauses {
        match clause {
            FunctionArgumentClause::IgnoreOrRespectNulls(NullTreatment::IgnoreNulls) => {
                ignore_nulls = true
            }
            FunctionArgumentClause::IgnoreOrRespectNulls(_) => {}
            FunctionArgumentClause::Limit(n) => limit = Some(n.clone()),
            other => clauses.push(other.clone()),
        }
    }
    out.null_treatment = None;
    let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(value))) = list.args.first() else {
        return Err(unsupported(
            "this form of ARRAY_AGG()",
            expr,
            "ARRAY_AGG takes one value",
        ));
    };
    if ignore_nulls {
        let not_null = Expr::IsNotNull(Box::new(value.clone()));
        out.filter = Some(Box::new(match out.filter.take() {
            Some(existing) => Expr::BinaryOp {
                left: existing,
                op: BinaryOperator::And,
                right: Box::new(not_null),
            },
            None => not_null,
        }));
    }
    out.args = FunctionArguments::List(FunctionArgumentList {
        duplicate_treatment: list.duplicate_treatment,
        args: list.args.clone(),
        clauses,
    });
    let aggregated = Expr::Function(out);
    Ok(match limit {
        Some(n) => call("array_slice", vec![aggregated, number(1), n]),
        None => aggregated,
    })
}

/// DuckDB: `/` is floating-point division; a few names differ.
fn duckdb_expr(expr: &mut Expr) -> Result<(), TranslateError> {
    complete_timestamp_literal(expr);
    if computed_interval(expr) || at_time_zone(expr) {
        return Ok(());
    }
    if let Expr::Function(f) = expr {
        equals_arguments_as_comparisons(f);
    }
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Divide,
            ..
        } => {
            divide_as_double(left);
            Ok(())
        }
        Expr::BinaryOp {
            op: op @ BinaryOperator::DuckIntegerDivide,
            ..
        } => {
            *op = BinaryOperator::Divide;
            Ok(())
        }
        Expr::Function(f) => {
            if let Some(new) = duckdb_function(f)? {
                *expr = new;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The text of a single-quoted string literal.
fn quoted_string(e: &Expr) -> Option<&String> {
    match e {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s),
            ..
        }) => Some(s),
        _ => None,
    }
}

/// A DuckDB function call in DataFusion's terms; `None` when it needs no
/// change.
fn duckdb_function(f: &Function) -> Result<Option<Expr>, TranslateError> {
    let (_, name) = function_name(f);
    Ok(Some(match name.as_str() {
        "STRING_SPLIT" | "STR_SPLIT" => renamed(f, "string_to_array"),
        // DuckDB's part functions (`dayofyear(d)`) and parts
        // (`date_part('dayofyear', d)`) in DataFusion's names.
        "DAYOFYEAR" | "DAYOFWEEK" | "DAYOFMONTH" | "ISODOW" | "WEEKDAY" | "WEEKOFYEAR"
        | "ISOYEAR" | "YEAR" | "MONTH" | "DAY" | "HOUR" | "MINUTE" | "SECOND" | "QUARTER"
        | "WEEK" => {
            let Some(a) = plain_args(f).filter(|a| a.len() == 1) else {
                return Ok(None);
            };
            let part = duckdb_part(&name.to_ascii_lowercase());
            call("date_part", vec![string(&part), a[0].clone()])
        }
        "DATE_PART" | "DATEPART" | "EXTRACT" => {
            let Some(a) = plain_args(f).filter(|a| a.len() == 2) else {
                return Ok(None);
            };
            let Some(part) = quoted_string(&a[0]) else {
                return Ok(None);
            };
            let mapped = duckdb_part(&part.to_ascii_lowercase());
            if mapped == part.to_ascii_lowercase() {
                return Ok(None);
            }
            call("date_part", vec![string(&mapped), a[1].clone()])
        }
        // `date_add(d, interval)`: DuckDB adds an interval to a date
        // or timestamp.
        "DATE_ADD" => {
            let Some(a) = plain_args(f).filter(|a| a.len() == 2) else {
                return Ok(None);
            };
            nested(Expr::BinaryOp {
                left: Box::new(a[0].clone()),
                op: BinaryOperator::Plus,
                right: Box::new(a[1].clone()),
            })
        }
        "DATE_SUB"
            if plain_args(f).is_some_and(|a| a.len() == 2 && matches!(a[1], Expr::Interval(_))) =>
        {
            let Some(a) = plain_args(f) else {
                return Ok(None);
            };
            nested(Expr::BinaryOp {
                left: Box::new(a[0].clone()),
                op: BinaryOperator::Minus,
                right: Box::new(a[1].clone()),
            })
        }
        "REGEXP_MATCHES" => renamed(f, "regexp_like"),
        "REGEXP_EXTRACT" => renamed(f, "duckdb_regexp_extract"),
        "EPOCH_MS" => renamed(f, "duckdb_epoch_ms"),
        "TYPEOF" => renamed(f, "duckdb_typeof"),
        "LEN" => renamed(f, "character_length"),
        "STRLEN" => renamed(f, "octet_length"),
        "LIST_VALUE" => renamed(f, "make_array"),
        "TODAY" => renamed(f, "current_date"),
        "JSON_EXTRACT_STRING" => renamed(f, "bq_json_value"),
        "JSON_EXTRACT" => renamed(f, "bq_json_query"),
        // DuckDB's one-argument `last_day(d)`: the month's last day.
        "LAST_DAY" if plain_args(f).is_some_and(|a| a.len() == 1) => {
            let Some(a) = plain_args(f) else {
                return Ok(None);
            };
            call("bq_last_day", vec![a[0].clone(), string("month")])
        }
        // `date_diff(part, start, end)`: the part boundaries crossed
        // from start to end (weeks start on Monday).
        "DATE_DIFF" | "DATEDIFF" => {
            let Some(a) = plain_args(f).filter(|a| a.len() == 3) else {
                return Ok(None);
            };
            let Some(part) = quoted_string(&a[0]) else {
                return Ok(None);
            };
            let part = match duckdb_part(&part.to_ascii_lowercase()).as_str() {
                "week" => "isoweek".to_string(),
                other => other.to_string(),
            };
            call(
                "bq_datetime_diff",
                vec![a[2].clone(), a[1].clone(), string(&part)],
            )
        }
        "MOD" => {
            let Some(a) = plain_args(f).filter(|a| a.len() == 2) else {
                return Ok(None);
            };
            nested(Expr::BinaryOp {
                left: Box::new(a[0].clone()),
                op: BinaryOperator::Modulo,
                right: Box::new(a[1].clone()),
            })
        }
        // DuckDB keeps a DATE a DATE; DataFusion would widen it.
        "DATE_TRUNC" => {
            let Some(a) = plain_args(f).filter(|a| a.len() == 2) else {
                return Ok(None);
            };
            call("duckdb_date_trunc", vec![a[0].clone(), a[1].clone()])
        }
        "STRFTIME" => {
            let Some(a) = plain_args(f).filter(|a| a.len() == 2) else {
                return Ok(None);
            };
            call("bq_format_date", vec![a[1].clone(), a[0].clone()])
        }
        "STRPTIME" => {
            let Some(a) = plain_args(f).filter(|a| a.len() == 2) else {
                return Ok(None);
            };
            call(
                "bq_parse_timestamp",
                vec![
                    a[1].clone(),
                    a[0].clone(),
                    Expr::value(Value::Boolean(false)),
                ],
            )
        }
        "DAYNAME" | "MONTHNAME" => {
            let Some(a) = plain_args(f).filter(|a| a.len() == 1) else {
                return Ok(None);
            };
            let format = if name == "DAYNAME" { "%A" } else { "%B" };
            call("bq_format_date", vec![string(format), a[0].clone()])
        }
        "EPOCH" => {
            let Some(a) = plain_args(f).filter(|a| a.len() == 1) else {
                return Ok(None);
            };
            call("date_part", vec![string("epoch"), a[0].clone()])
        }
        _ => return Ok(None),
    }))
}

/// In a scalar or aggregate call, DuckDB reads `f(a = b)` as a comparison
/// (`coalesce(lower = upper, false)`); sqlparser's DuckDB dialect parses it
/// as a named argument, which only table functions take.
fn equals_arguments_as_comparisons(f: &mut Function) {
    let FunctionArguments::List(list) = &mut f.args else {
        return;
    };
    for arg in &mut list.args {
        let comparison = match arg {
            FunctionArg::Named {
                name,
                arg: FunctionArgExpr::Expr(value),
                operator: sqlparser::ast::FunctionArgOperator::Equals,
            } => Expr::BinaryOp {
                left: Box::new(Expr::Identifier(name.clone())),
                op: BinaryOperator::Eq,
                right: Box::new(value.clone()),
            },
            FunctionArg::ExprNamed {
                name,
                arg: FunctionArgExpr::Expr(value),
                operator: sqlparser::ast::FunctionArgOperator::Equals,
            } => Expr::BinaryOp {
                left: Box::new(name.clone()),
                op: BinaryOperator::Eq,
                right: Box::new(value.clone()),
            },
            _ => continue,
        };
        *arg = FunctionArg::Unnamed(FunctionArgExpr::Expr(comparison));
    }
}

/// DuckDB's date part names as DataFusion's `date_part` knows them.
fn duckdb_part(part: &str) -> String {
    match part {
        "dayofyear" | "doy" => "doy",
        "dayofweek" | "weekday" | "dow" => "dow",
        "dayofmonth" => "day",
        "weekofyear" | "weeks" => "week",
        "years" | "yr" | "y" | "yrs" => "year",
        "months" | "mon" | "mons" => "month",
        "days" | "d" => "day",
        "hours" | "h" | "hr" | "hrs" => "hour",
        "minutes" | "min" | "mins" | "m" => "minute",
        "seconds" | "s" | "sec" | "secs" => "second",
        other => other,
    }
    .to_string()
}

/// `ts AT TIME ZONE z` with DuckDB's and Postgres' meaning (see
/// `rdbt_at_time_zone`); chains convert step by step.
fn at_time_zone(expr: &mut Expr) -> bool {
    let Expr::AtTimeZone {
        timestamp,
        time_zone,
    } = expr
    else {
        return false;
    };
    *expr = call(
        "rdbt_at_time_zone",
        vec![(**timestamp).clone(), (**time_zone).clone()],
    );
    true
}

/// `INTERVAL (expr) DAY` and `n * INTERVAL '1 day'`: intervals computed per
/// row, which DataFusion cannot parse or multiply, become `rdbt_interval`
/// calls. Returns whether `expr` was rewritten.
fn computed_interval(expr: &mut Expr) -> bool {
    match expr {
        Expr::Interval(i)
            if i.last_field.is_none()
                && !matches!(
                    &*i.value,
                    Expr::Value(ValueWithSpan {
                        value: Value::SingleQuotedString(_) | Value::Number(..),
                        ..
                    })
                ) =>
        {
            let Some(part) = i.leading_field.as_ref().and_then(datetime_field_name) else {
                return false;
            };
            *expr = call("rdbt_interval", vec![(*i.value).clone(), string(&part)]);
            true
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Multiply,
            right,
        } => {
            let is_interval = |e: &Expr| {
                matches!(e, Expr::Interval(_))
                    || matches!(e, Expr::Function(f) if function_name(f).1 == "RDBT_INTERVAL")
            };
            let (interval, factor) = if is_interval(left) && !is_interval(right) {
                ((**left).clone(), (**right).clone())
            } else if is_interval(right) && !is_interval(left) {
                ((**right).clone(), (**left).clone())
            } else {
                return false;
            };
            *expr = call("rdbt_interval_mul", vec![interval, factor]);
            true
        }
        _ => false,
    }
}

/// Postgres SQL is close to DataFusion's: integer division truncates in
/// both, `::` and `interval '1 day'` parse alike.
fn postgres_expr(expr: &mut Expr) -> Result<(), TranslateError> {
    complete_timestamp_literal(expr);
    let _ = computed_interval(expr) || at_time_zone(expr);
    Ok(())
}

/// `TIMESTAMP '2001-09-28 01:00'`: Postgres and DuckDB accept a time
/// without seconds, DataFusion does not.
fn complete_timestamp_literal(expr: &mut Expr) {
    // `cast('... -07:00' as timestamp)`: DuckDB and Postgres apply the
    // offset and keep the UTC time; DataFusion would read it as a zone name.
    if let Expr::Cast {
        expr: inner,
        data_type: DataType::Timestamp(_, sqlparser::ast::TimezoneInfo::None),
        ..
    } = expr
        && let Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(text),
            ..
        }) = inner.as_mut()
        && let Some(utc) = utc_of_offset_timestamp(text)
    {
        *text = utc;
    }
    if let Expr::TypedString(typed) = expr
        && matches!(typed.data_type, DataType::Timestamp(..))
        && let Value::SingleQuotedString(text) = &mut typed.value.value
    {
        if let Some(utc) = utc_of_offset_timestamp(text) {
            *text = utc;
            return;
        }
        let bytes = text.as_bytes();
        let short_time = bytes.len() == 16
            && matches!(bytes[10], b' ' | b'T')
            && bytes[13] == b':'
            && bytes[4] == b'-';
        if short_time {
            text.push_str(":00");
        }
    }
}

/// `2021-01-01 06:14:00-07:52:58` (an offset of hours, minutes and maybe
/// seconds after the time) as the UTC time it names; `None` for text
/// without an offset.
fn utc_of_offset_timestamp(text: &str) -> Option<String> {
    let t = text.trim();
    let re = crate::regexes::static_regex(
        r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?$",
    );
    let c = re.captures(t)?;
    let local = &c[1];
    let naive = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(local, f).ok())?;
    let n = |i: usize| {
        c.get(i)
            .map_or(0, |m| m.as_str().parse::<i64>().unwrap_or(0))
    };
    let secs = n(3) * 3600 + n(4) * 60 + n(5);
    let offset = if &c[2] == "-" { -secs } else { secs };
    let utc = naive - chrono::Duration::seconds(offset);
    Some(utc.format("%Y-%m-%d %H:%M:%S%.f").to_string())
}
