//! `persona report`: the HTML file, opened in headless Chromium (Debian's `chromium`, which
//! `.ci/run` installs): no console errors, every chart drawn, a screenshot that is not blank.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{root, run, sample_copy};

fn chromium() -> PathBuf {
    let path = std::env::var_os("PERSONA_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} is missing: install Debian's chromium (.ci/run does) or set PERSONA_CHROMIUM",
        path.display()
    );
    path
}

/// Runs headless Chromium on `page` with `args`; returns (stdout, stderr).
fn browse(page: &Path, profile: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const CHARTS: [&str; 11] = [
    "segment_sizes",
    "segment_revenue",
    "rfm_heatmap",
    "tier_movement",
    "cohort_retention",
    "funnel",
    "clv_distribution",
    "sentiment_trend",
    "kpi_gmv",
    "kpi_orders",
    "churn",
];

#[test]
fn report_renders_every_chart_in_chromium_without_errors() {
    let dir = sample_copy("report");
    let p = dir.path();
    // Two snapshots for the tier movement, and the sample's checks for the quality section.
    assert_eq!(run(p, &["refresh", "--as-of", "2024-06-30"]).2, 0);
    assert_eq!(run(p, &["refresh"]).2, 0);
    let checks = p.join("sql/checks");
    std::fs::create_dir_all(&checks).unwrap();
    for f in ["orders.toml", "discount_within_gross.sql"] {
        std::fs::copy(root().join("datasets/sql/checks").join(f), checks.join(f)).unwrap();
    }

    let (_, err, code) = run(p, &["report", "--as-of", "2024-12-31"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("report.html (11 charts)"), "{err}");
    let page = p.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();

    // Self-contained: the only URL is the SVG namespace; nothing is fetched.
    let urls = html.matches("http").count();
    let namespaces = html.matches("http://www.w3.org/2000/svg").count();
    assert_eq!(urls, namespaces, "the report refers to the network");
    assert!(
        !html.contains(" src=") && !html.contains("<link"),
        "external resources"
    );
    // Every chart is there with its data marks.
    for id in CHARTS {
        let start = html
            .find(&format!("<figure class=\"chart\" id=\"{id}\""))
            .unwrap_or_else(|| panic!("no chart {id}"));
        let figure = &html[start..start + html[start..].find("</figure>").unwrap()];
        let marks = figure.matches("<rect").count()
            + figure.matches("<polyline").count()
            + figure.matches("<circle").count();
        assert!(marks >= 5, "chart {id} has {marks} marks");
    }
    assert!(
        html.contains("9 passed, 0 warnings, 0 errors"),
        "quality summary"
    );

    let profile = super::scratch("chromium");
    let (dom, log) = browse(&page, profile.path(), &["--dump-dom"]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(
        dom.contains("11 of 11 charts drawn"),
        "the page's own check did not see every chart drawn: {}",
        &dom[dom.len().saturating_sub(400)..]
    );

    let shot = profile.path().join("report.png");
    let (_, log) = browse(
        &page,
        profile.path(),
        &[
            "--window-size=1400,3000",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(shot.exists(), "no screenshot: {log}");
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1400, 3000));
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    // Count pixels that are neither the page's background nor the white of the panels.
    let inked = pixels
        .chunks(channels)
        .filter(|px| px[..3].iter().any(|&c| c < 200))
        .count();
    let share = inked as f64 / (info.width * info.height) as f64;
    assert!(
        share > 0.03,
        "the screenshot is nearly blank ({share:.3} inked)"
    );
}

#[test]
fn report_on_an_empty_project_fails_and_keeps_the_old_report() {
    let dir = sample_copy("report-empty");
    let p = dir.path();
    std::fs::write(p.join("report.html"), "earlier report").unwrap();
    let (_, err, code) = run(p, &["report", "--as-of", "2019-01-01"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no customers with orders on or before 2019-01-01")
            && err.contains("no file was written"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(p.join("report.html")).unwrap(),
        "earlier report"
    );

    // A project with no sources at all.
    let empty = super::scratch("report-nothing");
    std::fs::write(
        empty.path().join("persona.toml"),
        "[project]\nname = 'empty'\n",
    )
    .unwrap();
    let (_, err, code) = run(empty.path(), &["report"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing to report"), "{err}");
    assert!(!empty.path().join("report.html").exists());
}
