//! Inline SVG charts for self-contained HTML reports: no JavaScript, no fonts or styles
//! fetched from anywhere, so a report opens offline and in a mail attachment.
//!
//! Three kinds, each a small builder whose `render` returns one `<svg>` element as a string:
//!
//! - [`LineChart`]: time series, several named [`Series`] on a linear x axis (seconds since
//!   the start, say). A series can be dashed, for a target next to what was achieved.
//! - [`PercentileChart`]: a latency distribution, x from 50% to 99.99% on the usual
//!   "number of nines" scale (`log10(1 / (1 - p))`), so the tail gets as much room as the body.
//! - [`BarChart`]: one value per named category.
//!
//! Every text (titles, series names, categories) is escaped. Points whose value is not finite
//! are left out and break the line, so a second with no samples shows as a gap rather than a
//! dive to zero. Each drawn series is a `<path class="series" data-points="N">`, and each bar a
//! `<rect class="bar">`, so a test (or a headless browser) can check that a chart has data.
//!
//! ```
//! use brisk_report::chart::{Axis, BarChart, LineChart, PercentileChart, Series};
//!
//! let latency = LineChart::new("Latency over time", Axis::new("time", "s"), Axis::new("latency", "ms"))
//!     .series(Series::new("p50", vec![(0.0, 1.2), (1.0, 1.4), (2.0, 1.3)]))
//!     .series(Series::new("p99", vec![(0.0, 4.0), (1.0, 9.5), (2.0, 5.1)]))
//!     .render();
//! assert!(latency.starts_with("<svg"));
//! assert_eq!(latency.matches("class=\"series\"").count(), 2);
//!
//! let rate = LineChart::new("Rate", Axis::new("time", "s"), Axis::new("rate", "ops/s"))
//!     .series(Series::new("target", vec![(0.0, 100.0), (2.0, 100.0)]).dashed())
//!     .series(Series::new("achieved", vec![(0.0, 99.0), (1.0, 100.0), (2.0, 98.0)]))
//!     .render();
//! assert!(rate.contains("stroke-dasharray"));
//!
//! let tail = PercentileChart::new("Latency distribution", Axis::new("latency", "ms"))
//!     .series(Series::new("select <one>", vec![(50.0, 1.0), (99.0, 8.0), (99.99, 40.0)]))
//!     .render();
//! assert!(tail.contains("99.99%") && tail.contains("select &lt;one&gt;"));
//!
//! let ops = BarChart::new("Operations", Axis::new("rate", "ops/s"))
//!     .bar("select", 1200.0)
//!     .bar("update", 300.0)
//!     .render();
//! assert_eq!(ops.matches("class=\"bar\"").count(), 2);
//! ```

use std::fmt::Write as _;

/// Default size of a chart, in CSS pixels: fits a 1280 px wide page with room for margins.
pub const DEFAULT_WIDTH: u32 = 720;
pub const DEFAULT_HEIGHT: u32 = 300;

/// Okabe and Ito's palette, chosen to stay distinguishable for the common colour-vision
/// deficiencies; after eight series the colours repeat.
const PALETTE: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
];

/// Points are drawn as hoverable circles (with a `<title>` tooltip) only up to this many per
/// series; an hour of per-second points would otherwise put 3,600 elements per line.
const MAX_MARKED_POINTS: usize = 120;

/// The percentiles a [`PercentileChart`] labels on its x axis, and its range.
const PERCENTILE_TICKS: [f64; 5] = [50.0, 90.0, 99.0, 99.9, 99.99];

/// An axis: what it measures and in which unit, shown as `latency (ms)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub label: String,
    pub unit: String,
}

impl Axis {
    pub fn new(label: impl Into<String>, unit: impl Into<String>) -> Self {
        Axis {
            label: label.into(),
            unit: unit.into(),
        }
    }

    fn title(&self) -> String {
        if self.unit.is_empty() {
            self.label.clone()
        } else {
            format!("{} ({})", self.label, self.unit)
        }
    }
}

/// One named line: `(x, y)` points in x order. Non-finite values are gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            dashed: false,
        }
    }

    /// Draws the line dashed: for a target or a limit next to a measured series.
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// Time series (or any x/y series) on linear axes. The y axis starts at zero, because a
/// latency axis that starts at 40 ms makes a 5% change look like a cliff.
#[derive(Debug, Clone)]
pub struct LineChart {
    title: String,
    x: Axis,
    y: Axis,
    series: Vec<Series>,
    size: (u32, u32),
}

impl LineChart {
    pub fn new(title: impl Into<String>, x: Axis, y: Axis) -> Self {
        LineChart {
            title: title.into(),
            x,
            y,
            series: Vec::new(),
            size: (DEFAULT_WIDTH, DEFAULT_HEIGHT),
        }
    }

    pub fn series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Width and height in CSS pixels (the SVG also scales to its container's width).
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    pub fn render(&self) -> String {
        let finite = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|(x, y)| x.is_finite() && y.is_finite())
        };
        let (x_min, x_max) = bounds(finite().map(|p| p.0));
        let (_, y_max) = bounds(finite().map(|p| p.1));
        let x_ticks = nice_ticks(x_min, x_max);
        let y_ticks = nice_ticks(0.0_f64.min(bounds(finite().map(|p| p.1)).0), y_max);
        let x_scale = Scale::linear(&x_ticks);
        let y_scale = Scale::linear(&y_ticks);
        let ticks: Vec<(f64, String)> = x_ticks
            .iter()
            .map(|&v| (v, format_tick(v, &x_ticks)))
            .collect();
        let names: Vec<&str> = self.series.iter().map(|s| s.name.as_str()).collect();
        let mut svg = Canvas::new(&self.title, self.size, &names);
        svg.frame(
            &ticks,
            &x_scale,
            &y_ticks,
            &y_scale,
            &self.x.title(),
            &self.y.title(),
        );
        for (index, series) in self.series.iter().enumerate() {
            svg.line(
                index,
                series,
                &x_scale,
                &y_scale,
                &self.x.unit,
                &self.y.unit,
            );
        }
        svg.finish(finite().next().is_none())
    }
}

/// A latency distribution: y (latency) against the percentile, with x on the "nines" scale
/// from 50% to 99.99%. Points are `(percentile, value)`; percentiles outside that range are
/// clamped to its ends, so a 100% (the maximum) sits on the right edge.
#[derive(Debug, Clone)]
pub struct PercentileChart {
    title: String,
    y: Axis,
    series: Vec<Series>,
    size: (u32, u32),
}

impl PercentileChart {
    pub fn new(title: impl Into<String>, y: Axis) -> Self {
        PercentileChart {
            title: title.into(),
            y,
            series: Vec::new(),
            size: (DEFAULT_WIDTH, DEFAULT_HEIGHT),
        }
    }

    pub fn series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    pub fn render(&self) -> String {
        let first = PERCENTILE_TICKS[0];
        let last = PERCENTILE_TICKS[PERCENTILE_TICKS.len() - 1];
        let to_nines = |p: f64| nines(p.clamp(first, last));
        // The series are redrawn on the nines scale; tooltips keep the real percentile.
        let mapped: Vec<Series> = self
            .series
            .iter()
            .map(|s| Series {
                points: s
                    .points
                    .iter()
                    .filter(|(p, _)| p.is_finite())
                    .map(|&(p, v)| (to_nines(p), v))
                    .collect(),
                ..s.clone()
            })
            .collect();
        let values = || {
            mapped
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .filter(|v| v.is_finite())
        };
        let (_, y_max) = bounds(values());
        let y_ticks = nice_ticks(0.0, y_max);
        let y_scale = Scale::linear(&y_ticks);
        let x_scale = Scale {
            min: nines(first),
            max: nines(last),
        };
        let ticks: Vec<(f64, String)> = PERCENTILE_TICKS
            .iter()
            .map(|&p| (nines(p), format!("{}%", trim_number(p, 2))))
            .collect();
        let names: Vec<&str> = mapped.iter().map(|s| s.name.as_str()).collect();
        let mut svg = Canvas::new(&self.title, self.size, &names);
        svg.frame(
            &ticks,
            &x_scale,
            &y_ticks,
            &y_scale,
            "percentile",
            &self.y.title(),
        );
        for (index, series) in mapped.iter().enumerate() {
            svg.line(index, series, &x_scale, &y_scale, "nines", &self.y.unit);
        }
        svg.finish(values().next().is_none())
    }
}

/// One value per named category, as vertical bars with the value written above each.
#[derive(Debug, Clone)]
pub struct BarChart {
    title: String,
    y: Axis,
    bars: Vec<(String, f64)>,
    size: (u32, u32),
}

impl BarChart {
    pub fn new(title: impl Into<String>, y: Axis) -> Self {
        BarChart {
            title: title.into(),
            y,
            bars: Vec::new(),
            size: (DEFAULT_WIDTH, DEFAULT_HEIGHT),
        }
    }

    pub fn bar(mut self, name: impl Into<String>, value: f64) -> Self {
        self.bars.push((name.into(), value));
        self
    }

    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    pub fn render(&self) -> String {
        let values = || self.bars.iter().map(|b| b.1).filter(|v| v.is_finite());
        let (y_min, y_max) = bounds(values());
        let y_ticks = nice_ticks(y_min.min(0.0), y_max);
        let y_scale = Scale::linear(&y_ticks);
        let mut svg = Canvas::new(&self.title, self.size, &[]);
        svg.frame(
            &[],
            &Scale { min: 0.0, max: 1.0 },
            &y_ticks,
            &y_scale,
            "",
            &self.y.title(),
        );
        let count = self.bars.len().max(1) as f64;
        let slot = svg.plot_width() / count;
        let bar_width = (slot * 0.6).max(1.0);
        let zero = svg.y_pos(&y_scale, 0.0);
        for (index, (name, value)) in self.bars.iter().enumerate() {
            let centre = svg.left + slot * (index as f64 + 0.5);
            let label_y = svg.top + svg.plot_height() + 16.0;
            // Long category names are cut to the slot, with the full name in a tooltip.
            let max_chars = ((slot / CHAR_WIDTH) as usize).max(3);
            let _ = write!(
                svg.out,
                r#"<text x="{centre:.1}" y="{label_y:.1}" text-anchor="middle" class="tick"><title>{full}</title>{short}</text>"#,
                full = escape(name),
                short = escape(&shorten(name, max_chars)),
            );
            if !value.is_finite() {
                continue;
            }
            let top = svg.y_pos(&y_scale, *value);
            let (y, height) = if top < zero {
                (top, zero - top)
            } else {
                (zero, top - zero)
            };
            let colour = PALETTE[index % PALETTE.len()];
            let text = format!("{} {}", format_value_compact(*value), self.y.unit);
            let _ = write!(
                svg.out,
                r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{bar_width:.1}" height="{height:.1}" fill="{colour}"><title>{name}: {text}</title></rect><text x="{centre:.1}" y="{ty:.1}" text-anchor="middle" class="value">{short}</text>"#,
                x = centre - bar_width / 2.0,
                ty = y - 4.0,
                name = escape(name),
                text = escape(text.trim_end()),
                short = escape(&format_value_compact(*value)),
            );
        }
        svg.finish(values().next().is_none())
    }
}

/// Escapes text for SVG or HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// Width of one character of the 12 px sans-serif used for labels, in pixels: an estimate
/// (there is no text measurement without a browser) that errs on the wide side.
const CHAR_WIDTH: f64 = 7.0;
const LEGEND_ROW: f64 = 18.0;

/// Maps data values onto `[0, 1]` of an axis.
struct Scale {
    min: f64,
    max: f64,
}

impl Scale {
    fn linear(ticks: &[f64]) -> Self {
        Scale {
            min: ticks[0],
            max: ticks[ticks.len() - 1],
        }
    }

    fn fraction(&self, value: f64) -> f64 {
        if self.max > self.min {
            (value - self.min) / (self.max - self.min)
        } else {
            0.5
        }
    }
}

/// The SVG being written: margins, title, legend, and the plot area between them.
struct Canvas {
    out: String,
    width: f64,
    height: f64,
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
}

impl Canvas {
    fn new(title: &str, (width, height): (u32, u32), legend: &[&str]) -> Self {
        let width = f64::from(width.max(200));
        let height = f64::from(height.max(120));
        // The right margin leaves room for half of a "99.99%" label under the last tick.
        let (left, right, bottom) = (64.0, 30.0, 44.0);
        // Legend entries flow left to right under the title and wrap to further rows.
        let mut rows = Vec::new();
        let mut x = left;
        let mut row = 0usize;
        for (index, name) in legend.iter().enumerate() {
            let entry = 22.0 + name.chars().count() as f64 * CHAR_WIDTH + 14.0;
            if x + entry > width - right && x > left {
                row += 1;
                x = left;
            }
            rows.push((index, name, x, row));
            x += entry;
        }
        let legend_rows = if legend.is_empty() { 0 } else { row + 1 };
        let top = 30.0 + legend_rows as f64 * LEGEND_ROW + 6.0;
        let mut out = String::with_capacity(4096);
        let _ = write!(
            out,
            r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" style="max-width:100%;height:auto" font-family="sans-serif" font-size="12"><title>{title}</title><style>.tick{{fill:#444}}.grid{{stroke:#e3e3e3}}.axis{{stroke:#888}}.value{{fill:#222;font-size:11px}}</style><rect width="{width}" height="{height}" fill="#fff"/><text x="{left}" y="20" font-size="14" font-weight="bold" fill="#222">{title}</text>"##,
            title = escape(title),
        );
        for (index, name, x, row) in rows {
            let y = 30.0 + row as f64 * LEGEND_ROW + 8.0;
            let colour = PALETTE[index % PALETTE.len()];
            let _ = write!(
                out,
                r##"<g class="legend"><rect x="{x:.1}" y="{ry:.1}" width="16" height="4" fill="{colour}"/><text x="{tx:.1}" y="{ty:.1}" fill="#222">{name}</text></g>"##,
                ry = y - 2.0,
                tx = x + 22.0,
                ty = y + 4.0,
                name = escape(name),
            );
        }
        Canvas {
            out,
            width,
            height,
            left,
            top,
            right,
            bottom,
        }
    }

    fn plot_width(&self) -> f64 {
        (self.width - self.left - self.right).max(1.0)
    }

    fn plot_height(&self) -> f64 {
        (self.height - self.top - self.bottom).max(1.0)
    }

    fn x_pos(&self, scale: &Scale, value: f64) -> f64 {
        self.left + scale.fraction(value) * self.plot_width()
    }

    fn y_pos(&self, scale: &Scale, value: f64) -> f64 {
        self.top + (1.0 - scale.fraction(value)) * self.plot_height()
    }

    /// Grid lines, tick labels and axis titles.
    fn frame(
        &mut self,
        x_ticks: &[(f64, String)],
        x_scale: &Scale,
        y_ticks: &[f64],
        y_scale: &Scale,
        x_title: &str,
        y_title: &str,
    ) {
        let (left, right) = (self.left, self.left + self.plot_width());
        let (top, bottom) = (self.top, self.top + self.plot_height());
        for &tick in y_ticks {
            let y = self.y_pos(y_scale, tick);
            let _ = write!(
                self.out,
                r#"<line class="grid" x1="{left}" x2="{right:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{tx}" y="{ty:.1}" text-anchor="end">{label}</text>"#,
                tx = left - 6.0,
                ty = y + 4.0,
                label = escape(&format_tick(tick, y_ticks)),
            );
        }
        for (tick, label) in x_ticks {
            let x = self.x_pos(x_scale, *tick);
            let _ = write!(
                self.out,
                r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{bottom:.1}"/><text class="tick" x="{x:.1}" y="{ty:.1}" text-anchor="middle">{label}</text>"#,
                ty = bottom + 16.0,
                label = escape(label),
            );
        }
        let _ = write!(
            self.out,
            r#"<line class="axis" x1="{left}" x2="{right:.1}" y1="{bottom:.1}" y2="{bottom:.1}"/><line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{bottom:.1}"/>"#,
        );
        if !x_title.is_empty() {
            let _ = write!(
                self.out,
                r#"<text class="tick" x="{x:.1}" y="{y:.1}" text-anchor="middle">{title}</text>"#,
                x = (left + right) / 2.0,
                y = self.height - 6.0,
                title = escape(x_title),
            );
        }
        let _ = write!(
            self.out,
            r#"<text class="tick" transform="translate(14 {y:.1}) rotate(-90)" text-anchor="middle">{title}</text>"#,
            y = (top + bottom) / 2.0,
            title = escape(y_title),
        );
    }

    /// One series as a path, with a gap wherever a value is not finite.
    fn line(
        &mut self,
        index: usize,
        series: &Series,
        x_scale: &Scale,
        y_scale: &Scale,
        x_unit: &str,
        y_unit: &str,
    ) {
        let colour = PALETTE[index % PALETTE.len()];
        let mut path = String::new();
        let mut drawn = 0usize;
        let mut pen_down = false;
        for &(x, y) in &series.points {
            if !(x.is_finite() && y.is_finite()) {
                pen_down = false;
                continue;
            }
            let command = if pen_down { 'L' } else { 'M' };
            let _ = write!(
                path,
                "{command}{:.1} {:.1}",
                self.x_pos(x_scale, x),
                self.y_pos(y_scale, y)
            );
            pen_down = true;
            drawn += 1;
        }
        let dash = if series.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            self.out,
            r#"<path class="series" data-series="{name}" data-points="{drawn}" d="{path}" fill="none" stroke="{colour}" stroke-width="1.8" stroke-linejoin="round"{dash}/>"#,
            name = escape(&series.name),
        );
        let finite = || {
            series
                .points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
        };
        if drawn <= MAX_MARKED_POINTS {
            for &(x, y) in finite() {
                let at = if x_unit == "nines" {
                    format!("{}%", trim_number(from_nines(x), 3))
                } else {
                    format!("{} {x_unit}", trim_number(x, 3))
                };
                let _ = write!(
                    self.out,
                    r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="2.5" fill="{colour}"><title>{name} at {at}: {value} {y_unit}</title></circle>"#,
                    cx = self.x_pos(x_scale, x),
                    cy = self.y_pos(y_scale, y),
                    name = escape(&series.name),
                    at = escape(at.trim_end()),
                    value = escape(&format_value_compact(y)),
                    y_unit = escape(y_unit),
                );
            }
        }
    }

    fn finish(mut self, empty: bool) -> String {
        if empty {
            let _ = write!(
                self.out,
                r##"<text x="{x:.1}" y="{y:.1}" text-anchor="middle" fill="#888">no data</text>"##,
                x = self.left + self.plot_width() / 2.0,
                y = self.top + self.plot_height() / 2.0,
            );
        }
        self.out.push_str("</svg>");
        self.out
    }
}

/// The smallest and largest of the values, or `(0, 1)` when there are none.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let mut range: Option<(f64, f64)> = None;
    for value in values {
        range = Some(match range {
            None => (value, value),
            Some((low, high)) => (low.min(value), high.max(value)),
        });
    }
    range.unwrap_or((0.0, 1.0))
}

/// Round tick values covering `[low, high]`: a step of 1, 2 or 5 times a power of ten, about
/// five ticks, the first at or below `low` and the last at or above `high`.
pub fn nice_ticks(low: f64, high: f64) -> Vec<f64> {
    let (low, high) = if high > low {
        (low, high)
    } else if low == 0.0 || !low.is_finite() {
        (0.0, 1.0)
    } else {
        // One value: an axis from zero to it, so it is drawn at its height, not mid-air.
        (low.min(0.0), low.max(0.0))
    };
    let raw_step = (high - low) / 5.0;
    let magnitude = 10f64.powf(raw_step.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw_step)
        .unwrap_or(10.0 * magnitude);
    let first = (low / step).floor() * step;
    let mut ticks = Vec::new();
    let mut index = 0.0;
    loop {
        let tick = first + index * step;
        // Snap away float noise such as 0.30000000000000004.
        let tick = (tick / step).round() * step;
        ticks.push(tick);
        if tick >= high || ticks.len() > 50 {
            break;
        }
        index += 1.0;
    }
    ticks
}

/// A tick label with just enough decimals to tell the ticks apart: `0.25`, `1.5k`, `2M`.
fn format_tick(value: f64, ticks: &[f64]) -> String {
    let step = if ticks.len() > 1 {
        (ticks[1] - ticks[0]).abs()
    } else {
        1.0
    };
    if value == 0.0 {
        return "0".to_string();
    }
    // One suffix for the whole axis, chosen by its largest tick: `5k, 10k`, not `5000, 10k`.
    let magnitude = ticks.iter().fold(step, |m, t| m.max(t.abs()));
    let (scaled, scaled_step, suffix) = if magnitude >= 1e9 {
        (value / 1e9, step / 1e9, "G")
    } else if magnitude >= 1e6 {
        (value / 1e6, step / 1e6, "M")
    } else if magnitude >= 1e4 {
        (value / 1e3, step / 1e3, "k")
    } else {
        (value, step, "")
    };
    let decimals = if scaled_step >= 1.0 {
        0
    } else {
        (-scaled_step.log10().floor()) as usize
    };
    format!("{scaled:.decimals$}{suffix}")
}

/// A value with three significant digits and a k/M/G suffix: `0.412`, `12.3`, `4.57k`.
fn format_value_compact(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e9 {
        (value / 1e9, "G")
    } else if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e4 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let digits = if scaled.abs() >= 100.0 {
        0
    } else if scaled.abs() >= 10.0 {
        1
    } else if scaled.abs() >= 1.0 {
        2
    } else {
        3
    };
    format!("{}{suffix}", trim_number(scaled, digits))
}

/// `value` with at most `decimals` decimals and no trailing zeros.
fn trim_number(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// The "number of nines" of a percentile: 90% is 1, 99% is 2, 99.9% is 3.
fn nines(percentile: f64) -> f64 {
    (1.0 / (1.0 - percentile / 100.0)).log10()
}

fn from_nines(nines: f64) -> f64 {
    100.0 * (1.0 - 10f64.powf(-nines))
}

/// Cuts `text` to `max_chars` characters, ending in an ellipsis when cut.
fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of<'a>(svg: &'a str, series: &str) -> &'a str {
        let marker = format!(r#"data-series="{series}""#);
        let start = svg.find(&marker).expect("series drawn");
        let d = svg[start..].find(" d=\"").expect("path data") + start + 4;
        let end = svg[d..].find('"').expect("closing quote") + d;
        &svg[d..end]
    }

    fn coordinates(path: &str) -> Vec<(f64, f64)> {
        path.split(['M', 'L'])
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (x, y) = pair.split_once(' ').expect("x y");
                (x.parse().expect("x"), y.parse().expect("y"))
            })
            .collect()
    }

    #[test]
    fn nice_ticks_cover_the_range_with_round_steps() {
        for (low, high) in [
            (0.0, 1.0),
            (0.0, 0.37),
            (0.0, 7.3),
            (0.0, 1234.0),
            (3.2, 97.1),
            (-12.0, 40.0),
            (0.0, 2.5e6),
            (0.001, 0.004),
        ] {
            let ticks = nice_ticks(low, high);
            assert!(
                ticks.len() >= 3 && ticks.len() <= 12,
                "{low}..{high}: {ticks:?}"
            );
            assert!(
                ticks[0] <= low && *ticks.last().unwrap() >= high,
                "{ticks:?}"
            );
            let step = ticks[1] - ticks[0];
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0, 10.0]
                    .iter()
                    .any(|m| (m - mantissa).abs() < 1e-9),
                "step {step} of {ticks:?}"
            );
        }
    }

    #[test]
    fn nice_ticks_of_one_value_or_none_still_make_an_axis() {
        let ticks = nice_ticks(0.0, 0.0);
        assert_eq!(ticks.len(), 6, "{ticks:?}");
        assert!(
            ticks[0] == 0.0 && (ticks[5] - 1.0).abs() < 1e-12,
            "{ticks:?}"
        );
        let ticks = nice_ticks(42.0, 42.0);
        assert!(
            ticks[0] <= 0.0 && *ticks.last().unwrap() >= 42.0,
            "{ticks:?}"
        );
    }

    #[test]
    fn tick_labels_are_short_and_distinct() {
        let ticks = nice_ticks(0.0, 25_000.0);
        let labels: Vec<String> = ticks.iter().map(|t| format_tick(*t, &ticks)).collect();
        assert_eq!(labels, ["0", "5k", "10k", "15k", "20k", "25k"]);
        let ticks = nice_ticks(0.0, 0.9);
        let labels: Vec<String> = ticks.iter().map(|t| format_tick(*t, &ticks)).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    }

    #[test]
    fn line_chart_maps_higher_values_higher_on_the_page() {
        let svg = LineChart::new("t", Axis::new("time", "s"), Axis::new("latency", "ms"))
            .series(Series::new(
                "p99",
                vec![(0.0, 1.0), (1.0, 10.0), (2.0, 5.0)],
            ))
            .render();
        let points = coordinates(path_of(&svg, "p99"));
        assert_eq!(points.len(), 3);
        // SVG's y grows downwards: the 10 ms point is the highest, the 1 ms one the lowest.
        assert!(
            points[1].1 < points[2].1 && points[2].1 < points[0].1,
            "{points:?}"
        );
        assert!(points[0].0 < points[1].0 && points[1].0 < points[2].0);
        assert!(svg.contains("latency (ms)") && svg.contains("time (s)"));
        assert!(svg.contains(r#"data-points="3""#));
        assert!(!svg.contains("no data"));
    }

    #[test]
    fn non_finite_values_break_the_line_instead_of_drawing_zero() {
        let svg = LineChart::new("t", Axis::new("time", "s"), Axis::new("rate", "ops/s"))
            .series(Series::new(
                "rate",
                vec![
                    (0.0, 5.0),
                    (1.0, f64::NAN),
                    (2.0, 6.0),
                    (3.0, f64::INFINITY),
                ],
            ))
            .render();
        let path = path_of(&svg, "rate");
        assert_eq!(path.matches('M').count(), 2, "{path}");
        assert!(!path.contains('L'), "{path}");
        assert!(svg.contains(r#"data-points="2""#));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn charts_without_data_say_so() {
        let line = LineChart::new("t", Axis::new("x", ""), Axis::new("y", "")).render();
        let tail = PercentileChart::new("t", Axis::new("latency", "ms"))
            .series(Series::new("empty", vec![]))
            .render();
        let bars = BarChart::new("t", Axis::new("y", "")).render();
        for svg in [line, tail, bars] {
            assert!(svg.contains("no data"), "{svg}");
            assert!(svg.ends_with("</svg>"));
            assert!(!svg.contains("NaN"));
        }
    }

    #[test]
    fn text_is_escaped_everywhere() {
        let evil = r#"<script>alert("x")</script> & 'q'"#;
        let svg = LineChart::new(evil, Axis::new(evil, evil), Axis::new(evil, evil))
            .series(Series::new(evil, vec![(0.0, 1.0)]))
            .render();
        let bars = BarChart::new(evil, Axis::new(evil, evil))
            .bar(evil, 3.0)
            .render();
        let tail = PercentileChart::new(evil, Axis::new(evil, evil))
            .series(Series::new(evil, vec![(99.0, 1.0)]))
            .render();
        for svg in [svg, bars, tail] {
            assert!(!svg.contains("<script"), "{svg}");
            assert!(
                svg.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;")
            );
        }
    }

    #[test]
    fn percentile_chart_gives_each_nine_the_same_width() {
        let svg = PercentileChart::new("t", Axis::new("latency", "ms"))
            .series(Series::new(
                "all",
                vec![
                    (50.0, 1.0),
                    (90.0, 2.0),
                    (99.0, 3.0),
                    (99.9, 4.0),
                    (99.99, 5.0),
                ],
            ))
            .render();
        let xs: Vec<f64> = coordinates(path_of(&svg, "all"))
            .iter()
            .map(|p| p.0)
            .collect();
        let gaps: Vec<f64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
        // 90→99, 99→99.9 and 99.9→99.99 are one nine each, so equally wide.
        assert!(
            (gaps[1] - gaps[2]).abs() < 0.2 && (gaps[2] - gaps[3]).abs() < 0.2,
            "{gaps:?}"
        );
        for label in ["50%", "90%", "99%", "99.9%", "99.99%"] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}");
        }
        assert!(
            svg.contains("at 99.9%: 4 ms"),
            "tooltip keeps the real percentile"
        );
    }

    #[test]
    fn percentile_chart_clamps_the_maximum_to_the_right_edge() {
        let svg = PercentileChart::new("t", Axis::new("latency", "ms"))
            .series(Series::new("s", vec![(99.99, 5.0), (100.0, 9.0)]))
            .render();
        let points = coordinates(path_of(&svg, "s"));
        assert_eq!(points.len(), 2);
        assert!((points[0].0 - points[1].0).abs() < 1e-9, "{points:?}");
    }

    #[test]
    fn bar_heights_follow_the_values() {
        let svg = BarChart::new("t", Axis::new("rate", "ops/s"))
            .bar("a", 100.0)
            .bar("b", 400.0)
            .render();
        let heights: Vec<f64> = svg
            .match_indices(r#"class="bar""#)
            .map(|(at, _)| {
                let h = svg[at..].find("height=\"").unwrap() + at + 8;
                let end = svg[h..].find('"').unwrap() + h;
                svg[h..end].parse::<f64>().unwrap()
            })
            .collect();
        assert_eq!(heights.len(), 2);
        assert!((heights[1] / heights[0] - 4.0).abs() < 0.05, "{heights:?}");
        assert!(svg.contains(">a</title>a</text>") || svg.contains("<title>a</title>a"));
    }

    #[test]
    fn legend_wraps_when_names_do_not_fit_one_row() {
        let mut chart = LineChart::new("t", Axis::new("x", ""), Axis::new("y", "")).size(300, 200);
        for name in ["first series", "second series", "third series"] {
            chart = chart.series(Series::new(name, vec![(0.0, 1.0), (1.0, 2.0)]));
        }
        let svg = chart.render();
        let rows: std::collections::BTreeSet<String> = svg
            .match_indices(r#"<g class="legend"><rect x="64.0" y=""#)
            .map(|(at, m)| svg[at + m.len()..].split('"').next().unwrap().to_string())
            .collect();
        assert!(rows.len() >= 2, "legend rows: {rows:?}");
    }

    #[test]
    fn only_short_series_get_hover_markers() {
        let short: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 1.0)).collect();
        let long: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 1.0)).collect();
        let svg = LineChart::new("t", Axis::new("x", ""), Axis::new("y", ""))
            .series(Series::new("short", short))
            .series(Series::new("long", long))
            .render();
        assert_eq!(svg.matches("<circle").count(), 10);
        assert!(svg.contains(r#"data-points="1000""#));
    }
}
