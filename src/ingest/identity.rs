//! Identity stitching: records of different sources that share a normalised match key (phone,
//! e-mail, device id, account id, …) are one customer.
//!
//! Each ingested source with `[source.ingest.identity]` contributes records, `(source,
//! source_id)`, with their key values. Records sharing a key value are linked, and the
//! connected components of the links (union-find) are the customers, written to
//! `curated/identity_map.parquet` as `(source, source_id, customer_id)`.
//!
//! - **Cardinality rule.** A key value held by more than `[identity] max_records_per_key`
//!   records (`test@test.com`, a shop's own phone number) links none of them; it is listed in
//!   `curated/identity_audit.parquet` with its count and sources instead.
//! - **Stable ids.** A component keeps the customer id its records had in the previous map (the
//!   smallest, when customers merged); a customer that split keeps its id in the part holding
//!   its smallest record. New customers get ids after the largest used so far, in the order of
//!   their smallest record, so a re-run on the same records gives the same map.
//!
//! [`unified_view_sql`] builds `customers_unified`, the golden record: per attribute, the latest
//! non-null value by the sources' `updated_at`, or the most frequent value for the attributes
//! named in `[identity] most_frequent`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::{curated_dir, ident, strings, thousands};
use crate::config::{IdentitySource, Project};
use crate::error::{PersonaError, Result};

/// What a stitching run found.
#[derive(Debug, Clone)]
pub struct IdentityStats {
    pub records: usize,
    pub sources: usize,
    pub customers: usize,
    /// Key values over the cardinality limit.
    pub audited: usize,
}

impl IdentityStats {
    pub fn line(&self) -> String {
        let plural = |n: usize, one: &str, many: &str| {
            format!(
                "{} {}",
                thousands(n as u64),
                if n == 1 { one } else { many }
            )
        };
        format!(
            "identity: {} of {} are {} ({} shared too widely to link, listed in identity_audit)",
            plural(self.records, "record", "records"),
            plural(self.sources, "source", "sources"),
            plural(self.customers, "customer", "customers"),
            plural(self.audited, "key value", "key values"),
        )
    }
}

/// The ingest sources taking part in stitching, with their identity sections.
pub fn identity_sources(project: &Project) -> Vec<(&str, &IdentitySource)> {
    project
        .config
        .sources
        .iter()
        .filter_map(|s| {
            s.ingest
                .as_ref()
                .and_then(|i| i.identity.as_ref())
                .map(|id| (s.name.as_str(), id))
        })
        .collect()
}

/// Union-find with path halving and union by size.
struct Dsu {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl Dsu {
    fn new(n: usize) -> Self {
        Dsu {
            parent: (0..n).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
    }
}

/// Stitches the curated sources into `identity_map` and `identity_audit`; `None` when no
/// source declares identity keys.
pub async fn stitch(ctx: &SessionContext, project: &Project) -> Result<Option<IdentityStats>> {
    let sources = identity_sources(project);
    if sources.is_empty() {
        return Ok(None);
    }
    let dir = curated_dir(&project.dir);
    // Records in (source, source_id) order; per key kind, the records holding each value.
    let mut records: Vec<(String, String)> = Vec::new();
    let mut kind_names: Vec<String> = Vec::new();
    let mut keys: Vec<datafusion::common::HashMap<String, Vec<usize>>> = Vec::new();
    for (name, id) in &sources {
        let path = dir.join(format!("{name}.parquet"));
        if !path.is_file() {
            return Err(PersonaError::Usage(format!(
                "source '{name}' has not been ingested yet ({} is missing)",
                path.display()
            )));
        }
        ctx.register_parquet(
            "__identity_src",
            path.to_string_lossy().as_ref(),
            Default::default(),
        )
        .await?;
        let kinds: Vec<usize> = id
            .keys
            .keys()
            .map(|k| match kind_names.iter().position(|n| n == k) {
                Some(i) => i,
                None => {
                    kind_names.push(k.clone());
                    keys.push(Default::default());
                    kind_names.len() - 1
                }
            })
            .collect();
        let key_exprs: String = id
            .keys
            .values()
            .map(|e| format!(", CAST(({e}) AS VARCHAR)"))
            .collect();
        let sql = format!(
            "SELECT DISTINCT CAST(({}) AS VARCHAR) AS source_id{key_exprs} FROM __identity_src WHERE ({}) IS NOT NULL ORDER BY 1",
            id.id, id.id
        );
        let fail = |e: datafusion::error::DataFusionError| {
            let _ = ctx.deregister_table("__identity_src");
            PersonaError::Usage(format!(
                "source '{name}': [source.ingest.identity]: {}",
                crate::error::clean_message(&e)
            ))
        };
        // Batch by batch: the distinct ids and keys of a large source are not held twice. The
        // rows come in id order, so a record's rows are next to each other.
        let first = records.len();
        let mut stream = async { ctx.sql(&sql).await?.execute_stream().await }
            .await
            .map_err(fail)?;
        while let Some(b) = stream.next().await {
            let b = b.map_err(fail)?;
            let ids = strings(b.column(0)).map_err(fail)?;
            let cols = (1..b.num_columns())
                .map(|i| Ok((strings(b.column(i))?, b.column(i).clone())))
                .collect::<datafusion::error::Result<Vec<_>>>()
                .map_err(fail)?;
            for row in 0..b.num_rows() {
                let source_id = ids.value(row);
                if records.len() == first || records[records.len() - 1].1 != source_id {
                    records.push((name.to_string(), source_id.to_string()));
                }
                let r = records.len() - 1;
                for (k, (values, array)) in cols.iter().enumerate() {
                    let value = values.value(row);
                    if array.is_null(row) || value.is_empty() {
                        continue;
                    }
                    keys[kinds[k]].entry_ref(value).or_default().push(r);
                }
            }
        }
        drop(stream);
        let _ = ctx.deregister_table("__identity_src");
    }

    let max = project.config.identity.max_records_per_key;
    let mut dsu = Dsu::new(records.len());
    let mut audit: Vec<(String, String, usize, String)> = Vec::new();
    for (kind, value, members) in keys
        .iter_mut()
        .zip(&kind_names)
        .flat_map(|(values, kind)| values.iter_mut().map(move |(v, m)| (kind, v, m)))
    {
        members.sort_unstable();
        members.dedup();
        if members.len() > max {
            let mut srcs: Vec<&str> = members.iter().map(|&m| records[m].0.as_str()).collect();
            srcs.sort_unstable();
            srcs.dedup();
            audit.push((kind.clone(), value.clone(), members.len(), srcs.join(", ")));
            continue;
        }
        for w in members.windows(2) {
            dsu.union(w[0], w[1]);
        }
    }
    audit.sort();

    // Components, each listed by its smallest record ((source, source_id) order).
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|&a, &b| records[a].cmp(&records[b]));
    let mut component_of_root: HashMap<usize, usize> = HashMap::new();
    let mut components: Vec<Vec<usize>> = Vec::new();
    for &r in &order {
        let root = dsu.find(r);
        let c = *component_of_root.entry(root).or_insert_with(|| {
            components.push(Vec::new());
            components.len() - 1
        });
        components[c].push(r);
    }

    let map_path = dir.join("identity_map.parquet");
    let previous = previous_map(&map_path)?;
    let mut taken = std::collections::HashSet::new();
    let mut ids: Vec<Option<i64>> = vec![None; components.len()];
    for (c, members) in components.iter().enumerate() {
        let mut old: Vec<i64> = members
            .iter()
            .filter_map(|&m| previous.get(&records[m]).copied())
            .collect();
        old.sort_unstable();
        if let Some(&id) = old.iter().find(|id| !taken.contains(*id)) {
            taken.insert(id);
            ids[c] = Some(id);
        }
    }
    let mut next = previous
        .values()
        .copied()
        .max()
        .unwrap_or(0)
        .max(taken.iter().copied().max().unwrap_or(0));
    let ids: Vec<i64> = ids
        .into_iter()
        .map(|id| {
            id.unwrap_or_else(|| {
                next += 1;
                next
            })
        })
        .collect();

    let mut rows: Vec<(usize, i64)> = Vec::with_capacity(records.len());
    for (c, members) in components.iter().enumerate() {
        rows.extend(members.iter().map(|&m| (m, ids[c])));
    }
    rows.sort_by(|a, b| records[a.0].cmp(&records[b.0]));
    let map = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("source", DataType::Utf8, false),
            Field::new("source_id", DataType::Utf8, false),
            Field::new("customer_id", DataType::Int64, false),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| records[r.0].0.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| records[r.0].1.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        ],
    )
    .map_err(crate::error::from_arrow)?;
    let audit_batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, false),
            Field::new("records", DataType::Int64, false),
            Field::new("sources", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values(audit.iter().map(|a| a.0.as_str()))),
            Arc::new(StringArray::from_iter_values(audit.iter().map(|a| a.1.as_str()))),
            Arc::new(Int64Array::from_iter_values(audit.iter().map(|a| a.2 as i64))),
            Arc::new(StringArray::from_iter_values(audit.iter().map(|a| a.3.as_str()))),
            Arc::new(StringArray::from_iter_values(audit.iter().map(|a| {
                format!("shared by {} records, more than max_records_per_key = {max}; not used to merge", a.2)
            }))),
        ],
    )
    .map_err(crate::error::from_arrow)?;
    write_atomic(ctx, map, &map_path).await?;
    write_atomic(ctx, audit_batch, &dir.join("identity_audit.parquet")).await?;
    Ok(Some(IdentityStats {
        records: records.len(),
        sources: sources.len(),
        customers: components.len(),
        audited: audit.len(),
    }))
}

async fn write_atomic(ctx: &SessionContext, batch: RecordBatch, path: &Path) -> Result<()> {
    let tmp = super::temporary(path);
    let _guard = super::RemoveOnDrop(tmp.clone());
    let stream = ctx.read_batch(batch)?.execute_stream().await?;
    crate::output::parquet::write_chunked(stream, &tmp).await?;
    std::fs::rename(&tmp, path).map_err(|e| PersonaError::io(path, &e))
}

/// The previous run's map, empty when there is none.
fn previous_map(path: &Path) -> Result<HashMap<(String, String), i64>> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;
    let mut out = HashMap::new();
    if !path.is_file() {
        return Ok(out);
    }
    for b in super::read_parquet_file(path)? {
        let s = strings(b.column(0))?;
        let id = strings(b.column(1))?;
        let c = b.column(2).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.insert(
                (s.value(i).to_string(), id.value(i).to_string()),
                c.value(i),
            );
        }
    }
    Ok(out)
}

/// `CREATE VIEW customers_unified …`: one row per customer of `identity_map`, with the golden
/// value of every attribute the sources declare, the number of records and the sources.
pub fn unified_view_sql(project: &Project) -> Option<String> {
    let sources = identity_sources(project);
    let mut attrs: Vec<String> = Vec::new();
    for (_, id) in &sources {
        for a in id.attributes.keys() {
            if !attrs.contains(a) {
                attrs.push(a.clone());
            }
        }
    }
    if sources.is_empty() {
        return None;
    }
    let facts: Vec<String> = sources
        .iter()
        .map(|(name, id)| {
            let cols: String = attrs
                .iter()
                .map(|a| match id.attributes.get(a) {
                    Some(e) => format!(", ({e}) AS {}", ident(a)),
                    None => format!(", NULL AS {}", ident(a)),
                })
                .collect();
            let ts = id
                .updated_at
                .as_deref()
                .map_or("CAST(NULL AS TIMESTAMP)".to_string(), |u| {
                    format!("CAST(({u}) AS TIMESTAMP)")
                });
            format!(
                "SELECT m.customer_id, '{name}' AS _source, s._id, s._ts{} FROM \
                 (SELECT CAST(({}) AS VARCHAR) AS _id, {ts} AS _ts{cols} FROM stg_{name}) AS s \
                 JOIN identity_map AS m ON m.source = '{name}' AND m.source_id = s._id",
                attrs
                    .iter()
                    .map(|a| format!(", s.{}", ident(a)))
                    .collect::<String>(),
                id.id
            )
        })
        .collect();
    let most_frequent = &project.config.identity.most_frequent;
    let latest: String = attrs
        .iter()
        .filter(|a| !most_frequent.contains(a))
        .map(|a| {
            let c = ident(a);
            format!(", array_agg({c} ORDER BY _ts DESC NULLS LAST) FILTER (WHERE {c} IS NOT NULL)[1] AS {c}")
        })
        .collect();
    let mut ctes = vec![
        format!("facts AS ({})", facts.join(" UNION ALL ")),
        format!(
            "latest AS (SELECT customer_id{latest}, count(DISTINCT _source || ':' || _id) AS records, \
             array_to_string(array_sort(array_distinct(array_agg(_source))), ', ') AS sources, \
             min(_ts) AS first_seen, max(_ts) AS last_seen FROM facts GROUP BY customer_id)"
        ),
    ];
    let mut joins = String::new();
    for a in attrs.iter().filter(|a| most_frequent.contains(a)) {
        let c = ident(a);
        let cte = ident(&format!("mode_{a}"));
        ctes.push(format!(
            "{cte} AS (SELECT customer_id, {c} FROM (SELECT customer_id, {c}, ROW_NUMBER() OVER \
             (PARTITION BY customer_id ORDER BY count(*) DESC, max(_ts) DESC NULLS LAST, {c}) AS _rn \
             FROM facts WHERE {c} IS NOT NULL GROUP BY customer_id, {c}) AS t WHERE _rn = 1)"
        ));
        joins.push_str(&format!(
            " LEFT JOIN {cte} ON {cte}.customer_id = latest.customer_id"
        ));
    }
    let select: String = attrs
        .iter()
        .map(|a| {
            let c = ident(a);
            if most_frequent.contains(a) {
                format!(", {}.{c}", ident(&format!("mode_{a}")))
            } else {
                format!(", latest.{c}")
            }
        })
        .collect();
    Some(format!(
        "CREATE OR REPLACE VIEW customers_unified AS WITH {} SELECT latest.customer_id{select}, \
         latest.records, latest.sources, latest.first_seen, latest.last_seen FROM latest{joins}",
        ctes.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_find_joins_chains() {
        let mut d = Dsu::new(5);
        d.union(0, 1);
        d.union(3, 4);
        d.union(1, 4);
        assert_eq!(d.find(0), d.find(3));
        assert_ne!(d.find(0), d.find(2));
    }
}
