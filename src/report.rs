//! `persona report`: one self-contained HTML file of charts over the profile and monitoring
//! views — segment sizes and revenue, the R x F heat map, tier movement between the last two
//! snapshots, cohort retention, the funnel, the CLV distribution, the sentiment trend, KPI
//! trends, churn, and the data-quality summary.
//!
//! Charts are drawn by plotters into inline SVG; the page loads nothing from anywhere (no
//! fonts, scripts or styles from a network), so it can be mailed or opened offline. A small
//! inline script checks, once the page is laid out, that every chart drew marks of non-zero
//! size, and reports it at the foot of the page (and as a console error per empty chart).
//! A chart without data (a project with no events, no texts, fewer than two snapshots) is
//! replaced by a sentence saying what is missing.

use std::fmt::Write as _;
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::check::{CheckResult, Status};
use crate::error::{PersonaError, Result};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;
const BAR: RGBColor = RGBColor(0x4e, 0x79, 0xa7);
const SECOND: RGBColor = RGBColor(0xf2, 0x8e, 0x2b);
const THIRD: RGBColor = RGBColor(0x59, 0xa1, 0x4f);
const FONT: &str = "sans-serif";

/// One section of the report: a chart, or a sentence saying why there is none.
pub struct Section {
    pub id: &'static str,
    pub title: String,
    pub body: Body,
}

/// What a section shows.
pub enum Body {
    Chart(String),
    Html(String),
    Missing(String),
}

/// A query's rows as columns: text of each cell, or numbers.
struct Rows(Vec<RecordBatch>);

impl Rows {
    fn len(&self) -> usize {
        self.0.iter().map(|b| b.num_rows()).sum()
    }

    fn text(&self, col: usize) -> Vec<String> {
        let mut out = Vec::new();
        for b in &self.0 {
            for r in 0..b.num_rows() {
                out.push(if b.column(col).is_null(r) {
                    String::new()
                } else {
                    array_value_to_string(b.column(col), r).unwrap_or_default()
                });
            }
        }
        out
    }

    fn numbers(&self, col: usize) -> Vec<f64> {
        let mut out = Vec::new();
        for b in &self.0 {
            let Ok(a) = cast(b.column(col), &DataType::Float64) else {
                continue;
            };
            let a = a.as_primitive::<Float64Type>();
            out.extend((0..a.len()).map(|i| if a.is_null(i) { f64::NAN } else { a.value(i) }));
        }
        out
    }
}

async fn query(ctx: &SessionContext, sql: &str) -> Result<Rows> {
    let batches = ctx.sql(sql).await?.collect().await?;
    Ok(Rows(batches))
}

/// Builds the report's sections from the session. Fails only when the project has no data at
/// all; a section whose view is missing says so instead.
pub async fn build(
    ctx: &SessionContext,
    as_of: &str,
    checks: Option<&[CheckResult]>,
) -> Result<Vec<Section>> {
    // No customer_orders view (a project without customers or orders) counts as no buyers.
    let buyers = query(ctx, "SELECT count(*) FROM customer_orders WHERE orders > 0")
        .await
        .map(|r| r.numbers(0).first().copied().unwrap_or(0.0))
        .unwrap_or(0.0);
    if buyers == 0.0 {
        return Err(PersonaError::Usage(format!(
            "the project has no customers with orders on or before {as_of}, so there is nothing to report; no file was written"
        )));
    }

    let mut sections = Vec::new();
    let mut add = |id: &'static str, title: &str, body: Result<Body>| {
        let body = body.unwrap_or_else(|e| Body::Missing(format!("not available: {e}")));
        sections.push(Section {
            id,
            title: title.to_string(),
            body,
        });
    };

    let seg = query(
        ctx,
        "SELECT name, customers, revenue FROM segment_kpis WHERE scheme = 'segment' ORDER BY customers DESC",
    )
    .await;
    add(
        "segment_sizes",
        "Customers per RFM segment",
        seg.as_ref()
            .map_err(clone_err)
            .and_then(|r| bars("Customers", &r.text(0), &r.numbers(1), BAR)),
    );
    add(
        "segment_revenue",
        "Revenue per RFM segment",
        seg.as_ref()
            .map_err(clone_err)
            .and_then(|r| bars("Revenue", &r.text(0), &r.numbers(2), SECOND)),
    );

    let rf = query(
        ctx,
        "SELECT f_score, r_score, count(*) FROM customer_segments WHERE r_score IS NOT NULL GROUP BY 1, 2",
    )
    .await;
    add(
        "rfm_heatmap",
        "Customers by recency (R) and frequency (F) score",
        rf.and_then(|r| {
            let labels: Vec<String> = (1..=5).map(|i| i.to_string()).collect();
            let cells = cells(&r, |v| (v - 1.0) as usize, |v| (v - 1.0) as usize);
            heat_map("F score", "R score", &labels, &labels, &cells, |v| {
                format!("{v:.0}")
            })
        }),
    );

    add(
        "tier_movement",
        "Tier movement between the last two snapshots",
        tier_movement(ctx).await,
    );

    let cohorts = query(
        ctx,
        "SELECT CAST(cohort_month AS VARCHAR), month_number, share FROM cohort_retention \
         WHERE cohort_month >= (SELECT max(cohort_month) FROM cohort_retention) - INTERVAL '11 months' \
         ORDER BY 1, 2",
    )
    .await;
    add(
        "cohort_retention",
        "Cohort retention: share of each first-purchase month buying again N months later",
        cohorts.and_then(|r| {
            let months = r.text(0);
            let mut ys: Vec<String> = months.clone();
            ys.dedup();
            let xs: Vec<String> = (1..=12).map(|i| i.to_string()).collect();
            let n = r.numbers(1);
            let v = r.numbers(2);
            let cells: Vec<(usize, usize, f64)> = (0..months.len())
                .map(|i| {
                    let y = ys.iter().position(|m| m == &months[i]).unwrap_or(0);
                    ((n[i] - 1.0) as usize, y, v[i])
                })
                .collect();
            let ys: Vec<String> = ys.iter().map(|m| m.chars().take(7).collect()).collect();
            heat_map(
                "months after the first purchase",
                "cohort",
                &xs,
                &ys,
                &cells,
                |v| format!("{:.0}%", v * 100.0),
            )
        }),
    );

    let funnel = query(
        ctx,
        "SELECT sum(viewed), sum(carted), sum(purchased) FROM funnel_daily \
         WHERE day > as_of() - INTERVAL '30 days'",
    )
    .await;
    add(
        "funnel",
        "Funnel over the last 30 days: visitors who viewed, carted and bought within 7 days",
        funnel.and_then(|r| {
            let v: Vec<f64> = (0..3).map(|i| r.numbers(i)[0]).collect();
            if v.iter().all(|x| x.is_nan() || *x == 0.0) {
                return Ok(Body::Missing(
                    "no web or app events in the last 30 days".into(),
                ));
            }
            let labels = ["viewed", "carted", "purchased"].map(String::from);
            bars("Visitors", &labels, &v, THIRD)
        }),
    );

    let clv = query(
        ctx,
        "SELECT clv_12m FROM customer_clv WHERE clv_12m IS NOT NULL AND clv_12m >= 0",
    )
    .await;
    add(
        "clv_distribution",
        "12-month CLV of buyers (up to the 95th percentile)",
        clv.and_then(|r| histogram(&r.numbers(0), "CLV (12 months)")),
    );

    let sentiment = query(
        ctx,
        "SELECT CAST(date_trunc('month', created_date) AS DATE), avg(sentiment), count(*) \
         FROM text_sentiment WHERE sentiment IS NOT NULL GROUP BY 1 ORDER BY 1",
    )
    .await;
    add(
        "sentiment_trend",
        "Average sentiment of comments and feedback per month",
        sentiment.and_then(|r| {
            if r.len() == 0 {
                return Ok(Body::Missing("no social comments or feedback texts".into()));
            }
            lines(
                "sentiment",
                &month_labels(&r.text(0)),
                &[("average", r.numbers(1), BAR)],
            )
        }),
    );

    let kpis = query(
        ctx,
        "SELECT CAST(date_trunc('month', day) AS DATE), sum(gmv), sum(orders), sum(new_customers) \
         FROM kpi_daily GROUP BY 1 ORDER BY 1",
    )
    .await;
    match kpis {
        Ok(r) => {
            let months = month_labels(&r.text(0));
            add(
                "kpi_gmv",
                "GMV per month",
                lines("GMV", &months, &[("GMV", r.numbers(1), BAR)]),
            );
            add(
                "kpi_orders",
                "Orders and new customers per month",
                lines(
                    "count",
                    &months,
                    &[
                        ("orders", r.numbers(2), BAR),
                        ("new customers", r.numbers(3), SECOND),
                    ],
                ),
            );
        }
        Err(e) => add("kpi_gmv", "GMV per month", Err(e)),
    }

    let churn = query(
        ctx,
        "SELECT CAST(month AS VARCHAR) AS m, churn_rate FROM churn_rate_monthly \
         WHERE churn_rate IS NOT NULL ORDER BY m",
    )
    .await;
    add(
        "churn",
        "Monthly churn rate of buyers (90 days without a purchase)",
        churn.and_then(|r| {
            lines(
                "churn rate",
                &month_labels(&r.text(0)),
                &[("churn rate", r.numbers(1), SECOND)],
            )
        }),
    );

    sections.push(Section {
        id: "data_quality",
        title: "Data quality".into(),
        body: match checks {
            Some(results) => Body::Html(checks_table(results)),
            None => Body::Missing(
                "no checks declared: add [[check]] tables to persona.toml or files to sql/checks/"
                    .into(),
            ),
        },
    });
    Ok(sections)
}

fn clone_err(e: &PersonaError) -> PersonaError {
    PersonaError::Usage(e.to_string())
}

/// `(x, y, value)` cells from a query's first three columns, indexed by `fx` and `fy`.
fn cells(
    r: &Rows,
    fx: impl Fn(f64) -> usize,
    fy: impl Fn(f64) -> usize,
) -> Vec<(usize, usize, f64)> {
    let (x, y, v) = (r.numbers(0), r.numbers(1), r.numbers(2));
    (0..x.len()).map(|i| (fx(x[i]), fy(y[i]), v[i])).collect()
}

async fn tier_movement(ctx: &SessionContext) -> Result<Body> {
    let r = query(
        ctx,
        "WITH last AS (SELECT max(to_as_of) AS t FROM segment_transitions), \
         prev AS (SELECT max(from_as_of) AS f FROM segment_transitions, last WHERE to_as_of = last.t) \
         SELECT from_segment, to_segment, customers, CAST(from_as_of AS VARCHAR), CAST(to_as_of AS VARCHAR) \
         FROM segment_transitions, last, prev \
         WHERE scheme = 'tier' AND to_as_of = last.t AND from_as_of = prev.f",
    )
    .await?;
    if r.len() == 0 {
        return Ok(Body::Missing(
            "needs two snapshots: run `persona refresh --as-of DATE` for two dates".into(),
        ));
    }
    let (from, to) = (r.text(0), r.text(1));
    let mut names: Vec<String> = from.iter().chain(&to).cloned().collect();
    names.sort();
    names.dedup();
    let index = |s: &String| names.iter().position(|n| n == s).unwrap_or(0);
    let v = r.numbers(2);
    let cells: Vec<(usize, usize, f64)> = (0..from.len())
        .map(|i| (index(&to[i]), index(&from[i]), v[i]))
        .collect();
    let (d0, d1) = (&r.text(3)[0], &r.text(4)[0]);
    heat_map(
        &format!("tier on {d1}"),
        &format!("tier on {d0}"),
        &names,
        &names,
        &cells,
        |v| format!("{v:.0}"),
    )
}

/// `2024-06-01` → `2024-06`.
fn month_labels(days: &[String]) -> Vec<String> {
    days.iter().map(|d| d.chars().take(7).collect()).collect()
}

fn draw_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> PersonaError {
    PersonaError::Usage(format!("cannot draw a chart: {e}"))
}

/// Horizontal bars, one per label.
fn bars(axis: &str, labels: &[String], values: &[f64], color: RGBColor) -> Result<Body> {
    let values: Vec<f64> = values
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { *v })
        .collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    if labels.is_empty() || max <= 0.0 {
        return Ok(Body::Missing("no data".into()));
    }
    let n = labels.len();
    let mut svg = String::new();
    {
        let height = HEIGHT.max(60 + 26 * n as u32);
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(130)
            .build_cartesian_2d(0.0..max * 1.12, (0..n).into_segmented())
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(axis)
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_label_formatter(&|v| short_number(*v))
            .label_style((FONT, 13))
            .draw()
            .map_err(draw_err)?;
        chart
            .draw_series(values.iter().enumerate().map(|(i, v)| {
                let mut r = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (*v, SegmentValue::Exact(i + 1)),
                    ],
                    color.filled(),
                );
                r.set_margin(4, 4, 0, 0);
                r
            }))
            .map_err(draw_err)?;
        chart
            .draw_series(values.iter().enumerate().map(|(i, v)| {
                Text::new(
                    short_number(*v),
                    (*v, SegmentValue::CenterOf(i)),
                    (FONT, 12)
                        .into_font()
                        .into_text_style(&root)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                )
            }))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Body::Chart(svg))
}

/// A grid of cells coloured from white to dark blue by value, each labelled with `fmt(value)`.
fn heat_map(
    x_desc: &str,
    y_desc: &str,
    xs: &[String],
    ys: &[String],
    cells: &[(usize, usize, f64)],
    fmt: impl Fn(f64) -> String,
) -> Result<Body> {
    let max = cells
        .iter()
        .map(|c| c.2)
        .filter(|v| !v.is_nan())
        .fold(0.0, f64::max);
    if cells.is_empty() || max <= 0.0 {
        return Ok(Body::Missing("no data".into()));
    }
    let mut svg = String::new();
    {
        let height = HEIGHT.max(80 + 24 * ys.len() as u32);
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(110)
            .build_cartesian_2d(
                (0..xs.len()).into_segmented(),
                (0..ys.len()).into_segmented(),
            )
            .map_err(draw_err)?;
        let label = |names: &[String], v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(xs.len())
            .y_labels(ys.len())
            .x_label_formatter(&|v| label(xs, v))
            .y_label_formatter(&|v| label(ys, v))
            .label_style((FONT, 12))
            .draw()
            .map_err(draw_err)?;
        let shade = |v: f64| {
            let t = if v.is_nan() {
                0.0
            } else {
                (v / max).clamp(0.0, 1.0)
            };
            let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
            RGBColor(mix(0xf4, 0x1f), mix(0xf8, 0x4e), mix(0xfb, 0x79))
        };
        chart
            .draw_series(cells.iter().map(|&(x, y, v)| {
                let mut r = Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    shade(v).filled(),
                );
                r.set_margin(1, 1, 1, 1);
                r
            }))
            .map_err(draw_err)?;
        chart
            .draw_series(cells.iter().map(|&(x, y, v)| {
                let dark = !v.is_nan() && v / max > 0.55;
                Text::new(
                    fmt(v),
                    (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                    (FONT, 11)
                        .into_font()
                        .color(if dark { &WHITE } else { &BLACK })
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )
            }))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Body::Chart(svg))
}

/// Lines over labelled points (months), one per series, with a legend.
fn lines(y_desc: &str, labels: &[String], series: &[(&str, Vec<f64>, RGBColor)]) -> Result<Body> {
    let n = labels.len();
    let values = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|v| !v.is_nan());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if n < 2 || !lo.is_finite() {
        return Ok(Body::Missing("not enough data for a trend".into()));
    }
    let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.05).max(1e-6);
    let lo = if lo >= 0.0 {
        0.0_f64.max(lo - pad)
    } else {
        lo - pad
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0..(n as i32 - 1), lo..hi + pad)
            .map_err(draw_err)?;
        let step = n.div_ceil(8).max(1);
        chart
            .configure_mesh()
            .y_desc(y_desc)
            .x_labels(n.min(12))
            .x_label_formatter(&|i| {
                let i = *i as usize;
                if i.is_multiple_of(step) {
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| short_number(*v))
            .label_style((FONT, 12))
            .draw()
            .map_err(draw_err)?;
        for (name, values, color) in series {
            let color = *color;
            let points: Vec<(i32, f64)> = values
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_nan())
                .map(|(i, v)| (i as i32, *v))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(draw_err)?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 2, color.filled())))
                .map_err(draw_err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 12))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Body::Chart(svg))
}

/// A histogram of 20 equal bins up to the 95th percentile (the long tail would flatten the rest).
fn histogram(values: &[f64], x_desc: &str) -> Result<Body> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() < 2 {
        return Ok(Body::Missing(
            "no CLV: the models need repeat buyers".into(),
        ));
    }
    v.sort_by(f64::total_cmp);
    let cap = v[((v.len() - 1) as f64 * 0.95) as usize].max(1e-9);
    const BINS: usize = 20;
    let width = cap / BINS as f64;
    let mut counts = [0u64; BINS];
    for x in v.iter().filter(|x| **x <= cap) {
        counts[((x / width) as usize).min(BINS - 1)] += 1;
    }
    let top = *counts.iter().max().unwrap_or(&1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..cap, 0.0..top * 1.1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_desc)
            .y_desc("customers")
            .x_label_formatter(&|v| short_number(*v))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 12))
            .draw()
            .map_err(draw_err)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, c)| {
                let x0 = i as f64 * width;
                let mut r = Rectangle::new([(x0, 0.0), (x0 + width, *c as f64)], BAR.filled());
                r.set_margin(0, 0, 1, 1);
                r
            }))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Body::Chart(svg))
}

/// 1234567 → `1.23M`, 12345 → `12.3k`, 0.123 → `0.123`.
fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn checks_table(results: &[CheckResult]) -> String {
    let mut html = String::from(
        "<table class=\"checks\"><thead><tr><th>check</th><th>table</th><th>status</th>\
         <th>failures</th><th>detail</th></tr></thead><tbody>",
    );
    for r in results {
        let _ = write!(
            html,
            "<tr class=\"{s}\"><td>{}</td><td>{}</td><td>{s}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.name),
            escape(&r.table),
            r.failures.map(|n| n.to_string()).unwrap_or_default(),
            escape(&r.detail),
            s = r.status.as_str(),
        );
    }
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    let _ = write!(
        html,
        "</tbody></table><p>{} passed, {} warnings, {} errors</p>",
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Error)
    );
    html
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222;background:#fafafa}\
h1{font-size:22px;margin:0 0 4px}p.meta{color:#666;margin:0 0 20px}\
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(660px,1fr));gap:16px}\
figure,section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:0;padding:10px}\
figcaption,h2{font-size:15px;font-weight:bold;margin:0 0 6px}svg{max-width:100%;height:auto}\
p.missing{color:#777;font-style:italic}table.checks{border-collapse:collapse;font-size:13px}\
table.checks td,table.checks th{border:1px solid #ddd;padding:3px 8px;text-align:left}\
tr.warn td{background:#fff4d6}tr.error td{background:#fde2e1}tr.pass td{background:#eef7ee}\
footer{margin-top:16px;color:#666;font-size:12px}";

/// Checks, once the page is laid out, that every chart drew visible marks.
const SELF_CHECK: &str = "window.addEventListener('load',function(){\
var figs=document.querySelectorAll('figure.chart'),drawn=0;\
figs.forEach(function(f){var n=0;f.querySelectorAll('svg rect,svg path,svg polyline,svg circle')\
.forEach(function(e){var b=e.getBBox();if(b.width>0&&b.height>0)n++;});\
if(n>=3)drawn++;else console.error('chart '+f.id+' is empty');});\
document.getElementById('chart-check').textContent=drawn+' of '+figs.length+' charts drawn';});";

/// The whole page.
pub fn html(project: &str, as_of: &str, sections: &[Section]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>persona report: {p}</title><style>{STYLE}</style></head><body>\
         <h1>Customer profile report: {p}</h1><p class=\"meta\">as of {a} · persona {v}</p><main>",
        p = escape(project),
        a = escape(as_of),
        v = env!("CARGO_PKG_VERSION"),
    );
    for s in sections {
        let (open, close, body) = match &s.body {
            Body::Chart(svg) => ("figure class=\"chart\"", "figure", svg.clone()),
            Body::Html(html) => ("section", "section", html.clone()),
            Body::Missing(why) => (
                "section class=\"missing\"",
                "section",
                format!("<p class=\"missing\">{}</p>", escape(why)),
            ),
        };
        let heading = match s.body {
            Body::Chart(_) => "figcaption",
            _ => "h2",
        };
        let _ = write!(
            out,
            "<{open} id=\"{}\"><{heading}>{}</{heading}>{body}</{close}>",
            s.id,
            escape(&s.title)
        );
    }
    let _ = writeln!(
        out,
        "</main><footer id=\"chart-check\"></footer><script>{SELF_CHECK}</script></body></html>"
    );
    out
}

/// Writes `text` to `path` through a temporary file beside it, so a failure leaves any
/// earlier report untouched.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| PersonaError::Usage(format!("{}: not a file name", path.display())))?;
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(PersonaError::io(path, &e));
    }
    Ok(())
}
