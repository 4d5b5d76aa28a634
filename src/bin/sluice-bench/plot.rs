//! SVG latency-by-percentile plots, drawn as HdrHistogram's plotter draws them: the x axis is
//! `1/(1−p)` on a log scale (so 90%, 99%, 99.9%, … are evenly spaced and the tail is visible),
//! the y axis is latency in µs. Several runs go on one plot, one colour each, with a legend.

use std::fmt::Write as _;

use crate::report::Summary;

const W: f64 = 900.0;
const H: f64 = 520.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 8] =
    ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// One curve: a name and its (percentile, µs) points.
pub struct Series<'a> {
    /// Legend text.
    pub name: String,
    /// Spectrum points.
    pub points: &'a [(f64, f64)],
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `log10(1/(1−p))` for a percentile `p` below 100.
fn x_of(p: f64) -> f64 {
    let q = (p / 100.0).min(1.0 - 1e-9);
    (1.0 / (1.0 - q)).log10()
}

/// A "nice" round upper bound for an axis.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

/// Draw the curves with a title.
pub fn svg(title: &str, series: &[Series<'_>]) -> String {
    let finite = |s: &Series<'_>| -> Vec<(f64, f64)> {
        s.points.iter().filter(|(p, _)| *p < 100.0).map(|&(p, v)| (x_of(p), v)).collect()
    };
    let curves: Vec<Vec<(f64, f64)>> = series.iter().map(finite).collect();
    let max_x = curves.iter().flatten().map(|p| p.0).fold(2.0f64, f64::max).ceil().min(7.0);
    let max_y = nice_ceiling(curves.iter().flatten().map(|p| p.1).fold(0.0, f64::max) * 1.05);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let sx = |x: f64| LEFT + x.min(max_x) / max_x * pw;
    let sy = |y: f64| TOP + ph - y / max_y * ph;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Grid and axes.
    for d in 0..=max_x as usize {
        let x = sx(d as f64);
        let label = match d {
            0 => "0%".to_string(),
            _ => {
                let nines = "9".repeat(d.saturating_sub(2));
                if d == 1 {
                    "90%".to_string()
                } else {
                    format!("99{}{}%", if nines.is_empty() { "" } else { "." }, nines)
                }
            }
        };
        let _ = writeln!(
            o,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + ph,
            TOP + ph + 18.0
        );
    }
    for i in 0..=5 {
        let v = max_y * i as f64 / 5.0;
        let y = sy(v);
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            y + 4.0,
            if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.1}") }
        );
    }
    let _ = writeln!(
        o,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + pw / 2.0,
        H - 14.0
    );
    let _ = writeln!(
        o,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">latency (µs)</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    for (i, (s, pts)) in series.iter().zip(&curves).enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        if !pts.is_empty() {
            let path: Vec<String> =
                pts.iter().map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y))).collect();
            let _ = writeln!(
                o,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                path.join(" ")
            );
        }
        let ly = TOP + 16.0 + 18.0 * i as f64;
        let _ = writeln!(
            o,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + 12.0,
            LEFT + 36.0,
            LEFT + 42.0,
            ly + 4.0,
            escape(&s.name)
        );
    }
    o.push_str("</svg>\n");
    o
}

/// Plot saved runs' intended-time latency curves on one picture.
pub fn summaries(title: &str, runs: &[Summary]) -> String {
    let series: Vec<Series<'_>> = runs
        .iter()
        .map(|s| Series {
            name: format!("{} (p50 {:.1} µs, p99 {:.1} µs)", s.label, s.latency.p50, s.latency.p99),
            points: &s.spectrum,
        })
        .collect();
    svg(title, &series)
}
