//! Rewrites of the PostgreSQL that drivers send in their catalogue queries into SQL DataFusion
//! plans. Each keeps the statement's meaning; a statement none of them applies to is planned
//! as the client wrote it.

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CaseWhen, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, Query, Select, SelectItem, SetExpr, Statement,
    TableFactor, TableWithJoins, Value, visit_expressions, visit_expressions_mut,
};

/// Aggregate functions: a scalar subquery over one of them already returns one row.
const AGGREGATES: &[&str] = &[
    "max",
    "min",
    "count",
    "sum",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "json_agg",
    "jsonb_agg",
];

/// `statement` rewritten where drivers' catalogue queries use PostgreSQL that DataFusion does
/// not run; `None` when there is nothing to rewrite.
///
/// - Every `LIKE … ESCAPE 'c'` whose escape is not a backslash gets the backslash escape, the
///   only one DataFusion runs (SQLAlchemy lists schemas with `ESCAPE '/'`): the pattern's
///   backslashes are doubled and its escape characters become backslashes.
/// - A scalar subquery of one plain column (no aggregate, GROUP BY, ORDER BY or LIMIT) is put
///   in a form DataFusion decorrelates: see [`scalar_subquery`]. SQLAlchemy's `get_columns`
///   reads defaults, identities and collations with such subqueries.
pub(super) fn for_datafusion(statement: &Statement) -> Option<Statement> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let mut rewritten = statement.clone();
    let mut changed = false;
    // Post-order: a subquery's own subqueries are rewritten before it, and what a rewrite
    // builds is not visited again.
    let _ = visit_expressions_mut(&mut rewritten, |e| {
        if let Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } = e
            && let Some(c) = escape_char
                .as_ref()
                .and_then(|v| v.value.clone().into_string())
            && c != "\\"
            && c.chars().count() == 1
        {
            let text = format!(
                "replace(replace(({pattern}), '\\', '\\\\'), '{}', '\\')",
                c.replace('\'', "''")
            );
            if let Ok(expr) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&text)
                .and_then(|mut p| p.parse_expr())
            {
                **pattern = expr;
                *escape_char = None;
                changed = true;
            }
        }
        if let Expr::Subquery(query) = e
            && let Some(planned) = scalar_subquery(query)
        {
            *e = planned;
            changed = true;
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    changed.then_some(rewritten)
}

/// A plain scalar subquery of one column, `(SELECT e FROM f WHERE w)`, in a form DataFusion
/// decorrelates; `None` for any other query. DataFusion plans a correlated scalar subquery
/// only when
///
/// 1. it is aggregated: `e` becomes `max(e)`, the same for the at most one row PostgreSQL
///    allows there;
/// 2. no predicate reads the outer row alone (SQLAlchemy repeats its `CASE` guards inside
///    the subquery, "not needed but pg seems to like it"): such conjuncts `o` of `w` move out,
///    `CASE WHEN o THEN (SELECT … WHERE rest) END`, NULL unless `o` holds as the subquery
///    would be;
/// 3. its value reads no outer column (SQLAlchemy's identity options do):
///    `e(outer, f.a, f.b)` becomes `CASE WHEN (SELECT count(*) FROM f WHERE w) > 0 THEN
///    e(outer, (SELECT max(f.a) FROM f WHERE w), (SELECT max(f.b) FROM f WHERE w)) END`.
///
/// A column moved between scopes could bind to another table there, so 2 and 3 apply only
/// where every column they move is qualified by its table.
fn scalar_subquery(query: &Query) -> Option<Expr> {
    let mut query = query.clone();
    let select = plain_select(&mut query)?;
    let (SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }) =
        select.projection.first()?
    else {
        return None;
    };
    if select.projection.len() != 1 || aggregate_call(value) {
        return None;
    }
    let value = value.clone();
    let names = relation_names(&select.from);
    let mut guard = None;
    if let (Some(names), Some(selection)) = (&names, &select.selection) {
        let (outer, own): (Vec<&Expr>, Vec<&Expr>) =
            conjuncts(selection).into_iter().partition(|t| {
                let tables = column_tables(t);
                !contains_subquery(t)
                    && !tables.is_empty()
                    && tables
                        .iter()
                        .all(|q| q.as_ref().is_some_and(|q| !names.contains(q)))
            });
        guard = conjunction(outer.into_iter().cloned());
        if guard.is_some() {
            select.selection = conjunction(own.into_iter().cloned());
        }
    }
    let reads_outer = names.as_ref().is_some_and(|names| {
        let tables = column_tables(&value);
        tables.iter().all(Option::is_some) && tables.iter().flatten().any(|q| !names.contains(q))
    });
    let planned = if reads_outer {
        let names = names.as_ref()?;
        let mut value = value;
        let _ = visit_expressions_mut(&mut value, |e| {
            if let Expr::CompoundIdentifier(parts) = e
                && names.contains(&parts[parts.len() - 2].value.to_lowercase())
            {
                *e = projecting(&query, call("max", FunctionArgExpr::Expr(e.clone())));
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        let count = projecting(&query, call("count", FunctionArgExpr::Wildcard));
        case(
            Expr::BinaryOp {
                left: Box::new(count),
                op: BinaryOperator::Gt,
                right: Box::new(Expr::value(Value::Number("0".into(), false))),
            },
            value,
        )
    } else {
        projecting(&query, call("max", FunctionArgExpr::Expr(value)))
    };
    Some(match guard {
        Some(guard) => case(guard, planned),
        None => planned,
    })
}

/// `query` as a scalar subquery of `value`, keeping the alias of its one column.
fn projecting(query: &Query, value: Expr) -> Expr {
    let mut query = query.clone();
    if let SetExpr::Select(select) = query.body.as_mut()
        && let Some(SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) =
            select.projection.first_mut()
    {
        *e = value;
    }
    Expr::Subquery(Box::new(query))
}

/// `CASE WHEN condition THEN value END`.
fn case(condition: Expr, value: Expr) -> Expr {
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen {
            condition,
            result: value,
        }],
        else_result: None,
    }
}

/// A call of `name` with one argument.
fn call(name: &str, arg: FunctionArgExpr) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(arg)],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// `terms` joined by AND, each in parentheses; `None` for no terms.
fn conjunction(terms: impl Iterator<Item = Expr>) -> Option<Expr> {
    terms
        .map(|t| Expr::Nested(Box::new(t)))
        .reduce(|a, b| Expr::BinaryOp {
            left: Box::new(a),
            op: BinaryOperator::And,
            right: Box::new(b),
        })
}

/// The select of a query that is one `SELECT` with no grouping, DISTINCT, ordering, limit or
/// CTE: the form whose rows a moved predicate can filter without changing anything else.
fn plain_select(query: &mut Query) -> Option<&mut Select> {
    use datafusion::sql::sqlparser::ast::GroupByExpr;
    if query.with.is_some()
        || query.order_by.is_some()
        || query.limit_clause.is_some()
        || query.fetch.is_some()
    {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let plain_group_by =
        matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
    (plain_group_by && select.having.is_none() && select.distinct.is_none()).then_some(select)
}

/// The names a scope's tables answer to, lower-cased: each table's name and its alias. `None`
/// when a relation is not a plain table.
fn relation_names(from: &[TableWithJoins]) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for table in from {
        for factor in
            std::iter::once(&table.relation).chain(table.joins.iter().map(|j| &j.relation))
        {
            let TableFactor::Table { name, alias, .. } = factor else {
                return None;
            };
            names.push(name.0.last()?.as_ident()?.value.to_lowercase());
            if let Some(alias) = alias {
                names.push(alias.name.value.to_lowercase());
            }
        }
    }
    Some(names)
}

/// The terms of a conjunction, through parentheses.
fn conjuncts(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::Nested(inner) => conjuncts(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let mut terms = conjuncts(left);
            terms.extend(conjuncts(right));
            terms
        }
        other => vec![other],
    }
}

fn contains_subquery(expr: &Expr) -> bool {
    visit_expressions(expr, |e| {
        if matches!(
            e,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        ) {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// The table each column of `expr` is qualified by, lower-cased; `None` for a column without
/// one.
fn column_tables(expr: &Expr) -> Vec<Option<String>> {
    let mut tables = Vec::new();
    let _ = visit_expressions(expr, |e| {
        match e {
            Expr::Identifier(_) => tables.push(None),
            Expr::CompoundIdentifier(parts) => tables.push(
                parts
                    .len()
                    .checked_sub(2)
                    .map(|i| parts[i].value.to_lowercase()),
            ),
            _ => {}
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    tables
}

/// Whether `expr` is a call of an aggregate function.
fn aggregate_call(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(f)
        if f.name.0.last().and_then(|p| p.as_ident())
            .is_some_and(|n| AGGREGATES.contains(&n.value.to_ascii_lowercase().as_str())))
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::*;
    use datafusion::prelude::SessionContext;

    #[test]
    fn like_escapes_other_than_backslash_are_rewritten() {
        let stmt = parse(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg/_' || '%' ESCAPE '/'",
        );
        let out = for_datafusion(&stmt).unwrap().to_string();
        assert!(!out.contains("ESCAPE"), "{out}");
        assert!(
            out.contains("replace(replace(('pg/_' || '%'), '\\', '\\\\'), '/', '\\')"),
            "{out}"
        );
        assert!(for_datafusion(&parse("SELECT 1 WHERE 'a' LIKE 'a%'")).is_none());
    }

    #[tokio::test]
    async fn a_correlated_scalar_subquery_of_one_column_runs_aggregated() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE s AS VALUES (1), (2), (3)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        ctx.sql("CREATE TABLE t AS VALUES (1, 'one'), (3, 'three')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let sql = "SELECT s.column1 AS a, (SELECT t.column2 AS name FROM t WHERE t.column1 = s.column1) AS name FROM s ORDER BY a";
        // DataFusion refuses it as written.
        let refused = match ctx.sql(sql).await {
            Ok(df) => df.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(refused.is_err());
        let rewritten = for_datafusion(&parse(sql)).unwrap().to_string();
        assert!(rewritten.contains("max(t.column2) AS name"), "{rewritten}");
        let batches = ctx.sql(&rewritten).await.unwrap().collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(
            text.contains("| 1 | one   |")
                && text.contains("| 2 |       |")
                && text.contains("| 3 | three |"),
            "{text}"
        );
        // Already aggregated, or ordered and limited: left as they are.
        for kept in [
            "SELECT (SELECT count(*) FROM t WHERE t.column1 = s.column1) FROM s",
            "SELECT (SELECT t.column2 FROM t ORDER BY 1 LIMIT 1) FROM s",
        ] {
            assert!(for_datafusion(&parse(kept)).is_none(), "{kept}");
        }
    }

    /// The second column of a query's rows, NULL as "".
    async fn values(ctx: &SessionContext, sql: &str) -> Vec<String> {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        text.lines()
            .skip(3)
            .filter_map(|l| l.split('|').nth(2))
            .map(|v| v.trim().to_string())
            .collect()
    }

    /// The three shapes of SQLAlchemy's `get_columns` query, on small tables: each is refused
    /// by DataFusion as written and gives PostgreSQL's rows rewritten.
    #[tokio::test]
    async fn subqueries_that_read_the_outer_row_are_planned() {
        let ctx = SessionContext::new();
        for table in [
            "CREATE TABLE a (id INT, flag BOOLEAN, coll INT, typ INT, nm TEXT) AS VALUES \
             (1, true, 5, 10, 'x'), (2, false, 5, 10, 'y'), (3, true, 0, 10, 'z'), \
             (4, true, 7, 20, 'w'), (5, true, 5, 30, 'v')",
            "CREATE TABLE b (id INT, name TEXT) AS VALUES (1, 'one'), (2, 'two'), (3, NULL)",
            "CREATE TABLE t (oid INT, tcoll INT) AS VALUES (10, 0), (20, 7)",
            "CREATE TABLE c (oid INT, cname TEXT, ns INT) AS VALUES (5, 'C', 1), (7, 'POSIX', 1)",
            "CREATE TABLE n (oid INT, nspname TEXT) AS VALUES (1, 'pg_catalog')",
        ] {
            ctx.sql(table).await.unwrap().collect().await.unwrap();
        }
        for (sql, expected) in [
            // The default: the CASE guard repeated inside the subquery. Row 2 has a match
            // but its guard is false; row 3 matches a NULL.
            (
                "SELECT a.id, CASE WHEN a.flag THEN (SELECT b.name FROM b \
                 WHERE a.flag AND b.id = a.id) ELSE NULL END AS v FROM a ORDER BY a.id",
                ["one", "", "", "", ""],
            ),
            // The identity: the value reads the outer row. A row without a match is NULL,
            // not the value of NULLs; a match of a NULL still gives the value.
            (
                "SELECT a.id, (SELECT b.name || '/' || a.nm FROM b \
                 WHERE a.id < 4 AND b.id = a.id) AS v FROM a ORDER BY a.id",
                ["one/x", "two/y", "", "", ""],
            ),
            (
                "SELECT a.id, (SELECT coalesce(b.name, '-') || a.nm FROM b \
                 WHERE b.id = a.id) AS v FROM a ORDER BY a.id",
                ["onex", "twoy", "-z", "", ""],
            ),
            // The collation: a guard comparing another subquery, and a join inside.
            (
                "SELECT a.id, CASE WHEN (a.coll <> 0 AND (SELECT t.tcoll FROM t \
                 WHERE t.oid = a.typ) <> a.coll) THEN (SELECT c.cname || '.' || n.nspname \
                 FROM c JOIN n ON n.oid = c.ns WHERE c.oid = a.coll) END AS v \
                 FROM a ORDER BY a.id",
                ["C.pg_catalog", "C.pg_catalog", "", "", ""],
            ),
        ] {
            let refused = match ctx.sql(sql).await {
                Ok(df) => df.collect().await.map(|_| ()),
                Err(e) => Err(e),
            };
            assert!(refused.is_err(), "DataFusion now plans {sql}");
            let rewritten = for_datafusion(&parse(sql)).unwrap().to_string();
            let got = values(&ctx, &rewritten).await;
            assert_eq!(got, expected, "from {rewritten}");
        }
        // Columns that could bind elsewhere once moved stay where they are: an unqualified
        // outer condition, and an unqualified column in a value that reads the outer row.
        for (sql, kept) in [
            (
                "SELECT (SELECT b.name FROM b WHERE flag AND b.id = a.id) FROM a",
                "WHERE flag AND b.id = a.id",
            ),
            (
                "SELECT (SELECT name || a.nm FROM b WHERE b.id = a.id) FROM a",
                "max(name || a.nm)",
            ),
        ] {
            let out = for_datafusion(&parse(sql)).unwrap().to_string();
            assert!(out.contains(kept) && !out.contains("CASE"), "{out}");
        }
        // An aggregate answers an empty input itself, so its conditions stay inside.
        let counted = "SELECT (SELECT count(*) FROM b WHERE a.flag AND b.id = a.id) FROM a";
        assert!(for_datafusion(&parse(counted)).is_none());
    }
}
