//! The history's charts: brisk-report's inline SVG line charts (drawn on the server, so a
//! page without JavaScript shows them too), with time as minutes before now. Each drawn line
//! is a `<path class="series" data-points="N">`, which the browser tests count.

use brisk_report::chart::{Axis, LineChart, Series};

use crate::history::{now_secs, Points};
use crate::html::esc;

/// Width and height in CSS pixels: two charts side by side on a 1280 px page.
const SIZE: (u32, u32) = (600, 230);

/// A line chart of one or more series over time; `unit` names the y axis's unit.
pub fn line(title: &str, unit: &str, series: &[(&str, Points)]) -> String {
    if series.iter().all(|(_, points)| points.is_empty()) {
        // Axes around nothing would read as "zero"; say what is missing instead.
        return format!(
            "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" style=\"max-width:100%;height:auto\" \
             xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\"><rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\
             <text x=\"16\" y=\"24\" font-size=\"14\" font-weight=\"bold\" fill=\"#222\">{t}</text>\
             <text x=\"16\" y=\"{y}\" font-size=\"12\" fill=\"#888\">collecting: the line starts after two samples</text></svg>",
            w = SIZE.0,
            h = SIZE.1,
            y = SIZE.1 / 2,
            t = esc(title)
        );
    }
    let now = now_secs();
    let mut chart = LineChart::new(
        title,
        Axis::new("time", "min before now"),
        Axis::new(unit, ""),
    )
    .size(SIZE.0, SIZE.1);
    for (name, points) in series {
        let minutes = points.iter().map(|&(t, v)| ((t - now) / 60.0, v)).collect();
        chart = chart.series(Series::new(*name, minutes));
    }
    chart.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_series_says_how_many_points_it_draws() {
        let now = now_secs();
        let svg = line(
            "calls <per> s",
            "calls/s",
            &[
                ("a", vec![(now - 20.0, 1.0), (now - 10.0, 3.0)]),
                ("b", vec![(now - 10.0, 2.0)]),
            ],
        );
        assert!(svg.contains("data-points=\"2\""), "{svg}");
        assert!(svg.contains("data-points=\"1\""), "{svg}");
        assert!(svg.contains("calls &lt;per&gt; s"));
        let empty = line("x", "n", &[("a", Vec::new())]);
        assert!(!empty.contains("class=\"series\"") && empty.contains("collecting"));
    }
}
