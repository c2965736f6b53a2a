//! Time-series charts as inline SVG, drawn on the server: no script or font is fetched, and
//! a page without JavaScript shows them too. Each line is a `<path class="series"
//! data-points="N">`, so a test (or a browser) can see that a chart has data.

use crate::history::Points;
use crate::html::esc;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 170.0;
/// Room for the y labels on the left and the time labels below.
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 24.0;
const COLORS: [&str; 3] = ["#2563eb", "#dc2626", "#16a34a"];

/// A line chart of one or more series over time. `format` prints a y value with its unit.
pub fn line(title: &str, series: &[(&str, Points)], format: &dyn Fn(f64) -> String) -> String {
    let points: Vec<&(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter()).collect();
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{t}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><text class=\"title\" x=\"{LEFT}\" y=\"15\">{t}</text>",
        t = esc(title)
    );
    if points.is_empty() {
        svg.push_str(&format!(
            "<text class=\"empty\" x=\"{x}\" y=\"{y}\">collecting: the first points appear after two samples</text></svg>",
            x = LEFT,
            y = HEIGHT / 2.0
        ));
        return svg;
    }
    let (mut t0, mut t1) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut top = 0.0f64;
    for &&(t, v) in &points {
        t0 = t0.min(t);
        t1 = t1.max(t);
        top = top.max(v);
    }
    // A flat zero line still gets a scale; the top is rounded up to a readable number.
    let top = nice_ceiling(if top > 0.0 { top } else { 1.0 });
    let span = if t1 > t0 { t1 - t0 } else { 1.0 };
    let x = |t: f64| LEFT + (t - t0) / span * (WIDTH - LEFT - 8.0);
    let y = |v: f64| TOP + (1.0 - v / top) * (HEIGHT - TOP - BOTTOM);
    for step in 0..=2 {
        let value = top * f64::from(step) / 2.0;
        svg.push_str(&format!(
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>\
             <text class=\"axis\" x=\"{lx}\" y=\"{ly:.1}\" text-anchor=\"end\">{label}</text>",
            x2 = WIDTH - 8.0,
            yy = y(value),
            lx = LEFT - 4.0,
            ly = y(value) + 4.0,
            label = esc(&format(value))
        ));
    }
    svg.push_str(&format!(
        "<text class=\"axis\" x=\"{LEFT}\" y=\"{yb}\">{start}</text>\
         <text class=\"axis\" x=\"{xe}\" y=\"{yb}\" text-anchor=\"end\">{end}</text>",
        yb = HEIGHT - 6.0,
        xe = WIDTH - 8.0,
        start = clock(t0),
        end = clock(t1),
    ));
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut d = String::new();
        for (j, &(t, v)) in points.iter().enumerate() {
            d.push_str(&format!(
                "{}{:.1},{:.1}",
                if j == 0 { "M" } else { " L" },
                x(t),
                y(v)
            ));
        }
        // One point alone draws as a dot.
        if points.len() == 1 {
            d.push_str(" h0.1");
        }
        svg.push_str(&format!(
            "<path class=\"series\" data-points=\"{n}\" d=\"{d}\" stroke=\"{color}\"/>",
            n = points.len()
        ));
        if series.len() > 1 {
            svg.push_str(&format!(
                "<text class=\"legend\" x=\"{lx}\" y=\"15\" fill=\"{color}\" text-anchor=\"end\">{name}</text>",
                lx = WIDTH - 8.0 - 90.0 * (series.len() - 1 - i) as f64,
                name = esc(name)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The smallest of 1, 2, 2.5, 5 × 10^k at or above `value`.
fn nice_ceiling(value: f64) -> f64 {
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&v| v >= value)
        .unwrap_or(10.0 * magnitude)
}

/// `HH:MM:SS` UTC of a Unix time.
fn clock(t: f64) -> String {
    let secs = t.max(0.0) as u64 % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_series_says_how_many_points_it_draws() {
        let svg = line(
            "calls <per> s",
            &[
                ("a", vec![(0.0, 1.0), (10.0, 3.0)]),
                ("b", vec![(10.0, 2.0)]),
            ],
            &|v| format!("{v}"),
        );
        assert!(svg.contains("data-points=\"2\""));
        assert!(svg.contains("data-points=\"1\""));
        assert!(svg.contains("calls &lt;per&gt; s"));
        let empty = line("x", &[("a", Vec::new())], &|v| format!("{v}"));
        assert!(!empty.contains("class=\"series\""));
    }

    #[test]
    fn the_scale_tops_at_a_round_number() {
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(2100.0), 2500.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }
}
