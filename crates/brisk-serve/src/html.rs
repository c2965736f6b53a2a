//! The page frame (navigation, embedded CSS and refresh script) and the small helpers every
//! page uses to print numbers and tables. Every text from a server goes through [`esc`].

use std::fmt::Write;

/// The pages, in the navigation's order: path, label, and whether it needs `--redis`.
pub const NAV: [(&str, &str, bool); 8] = [
    ("/", "Overview", false),
    ("/queries", "Queries", false),
    ("/space", "Space", false),
    ("/connections", "Connections", false),
    ("/live", "Live queries", false),
    ("/maintenance", "Maintenance", false),
    ("/tune", "Tune", false),
    ("/redis", "Redis", true),
];

const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#111827;background:#f3f4f6}
header{background:#111827;color:#f9fafb;padding:0 20px;display:flex;align-items:center;gap:24px;flex-wrap:wrap}
header .brand{font-weight:700;font-size:16px;padding:12px 0}
header .target{color:#9ca3af;font-size:12px;margin-left:auto}
nav a{color:#d1d5db;text-decoration:none;padding:14px 10px;display:inline-block;border-bottom:3px solid transparent}
nav a:hover{color:#fff}
nav a[aria-current=page]{color:#fff;border-bottom-color:#60a5fa}
main{padding:20px;max-width:1280px;margin:0 auto}
h1{font-size:20px;margin:0 0 14px}
h2{font-size:16px;margin:24px 0 10px}
.figures{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:12px}
.figure{background:#fff;border-radius:8px;padding:12px 16px;min-width:150px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.figure .value{font-size:22px;font-weight:650;display:block}
.figure .label{color:#6b7280;font-size:12px}
.figure.critical .value{color:#b91c1c}.figure.warning .value{color:#b45309}.figure.ok .value{color:#15803d}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:12px}
.chart{background:#fff;border-radius:8px;width:100%;height:auto;box-shadow:0 1px 2px rgba(0,0,0,.06)}
table{border-collapse:collapse;width:100%;background:#fff;border-radius:8px;overflow:hidden;box-shadow:0 1px 2px rgba(0,0,0,.06)}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #f1f5f9;vertical-align:top}
th{background:#f9fafb;font-weight:600;color:#374151;font-size:12px;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
td code{display:block;max-width:440px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.evidence{display:block;min-width:190px}
td code.wrap{white-space:normal;max-width:none;overflow:visible}
pre{background:#fff;padding:12px;border-radius:8px;overflow:auto;white-space:pre-wrap}
.sev{display:inline-block;border-radius:4px;padding:0 6px;font-size:11px;font-weight:600;text-transform:uppercase}
.sev.critical{background:#fee2e2;color:#991b1b}.sev.warning{background:#fef3c7;color:#92400e}.sev.info{background:#e0f2fe;color:#075985}
.note{color:#6b7280}.error{background:#fef2f2;color:#991b1b;padding:10px 14px;border-radius:8px}
.pager{margin:10px 0;display:flex;gap:12px;align-items:center}
form.inline{display:inline}
button{font:inherit;font-size:12px;padding:2px 8px;border-radius:4px;border:1px solid #d1d5db;background:#fff;cursor:pointer}
button.danger{border-color:#fca5a5;color:#991b1b}
input[type=search]{font:inherit;padding:4px 8px;border:1px solid #d1d5db;border-radius:4px}
a{color:#1d4ed8}
"#;

/// Progressive enhancement: pages that ask for it re-read themselves every 10 s and swap
/// their `<main>`, so figures and charts move without a reload; without JavaScript the page
/// is the same, only still. A failed fetch (the server stopped) is ignored quietly.
const SCRIPT: &str = r#"
(function(){
  var every = Number(document.body.getAttribute('data-refresh') || 0);
  if (!every || !window.fetch || !window.DOMParser) return;
  setInterval(function(){
    if (document.hidden) return;
    fetch(location.href, {credentials: 'same-origin'}).then(function(r){
      return r.ok ? r.text() : null;
    }).then(function(text){
      if (!text) return;
      var fresh = new DOMParser().parseFromString(text, 'text/html').querySelector('main');
      var main = document.querySelector('main');
      if (fresh && main) main.innerHTML = fresh.innerHTML;
    }).catch(function(){});
  }, every * 1000);
})();
"#;

/// HTML-escapes text for an element or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One page: its frame around `body`.
pub struct Page<'a> {
    pub title: &'a str,
    pub path: &'a str,
    pub target: &'a str,
    pub has_redis: bool,
    /// Seconds between refreshes by the script; 0: none.
    pub refresh_secs: u32,
}

pub fn render(page: &Page<'_>, body: &str) -> String {
    let mut nav = String::new();
    for (path, label, needs_redis) in NAV {
        if needs_redis && !page.has_redis {
            continue;
        }
        let current = if path == page.path {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{path}\"{current}>{label}</a>");
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} · brisk</title><style>{CSS}</style></head>\
         <body data-refresh=\"{refresh}\"><header><span class=\"brand\">brisk</span><nav>{nav}</nav>\
         <span class=\"target\">{target}</span></header>\
         <main><h1>{title}</h1>{body}</main><script>{SCRIPT}</script></body></html>",
        title = esc(page.title),
        refresh = page.refresh_secs,
        target = esc(page.target),
    )
}

/// A headline number: `id` names it for tests (`data-figure`), `class` colors it.
pub fn figure(id: &str, label: &str, value: &str, class: &str) -> String {
    format!(
        "<div class=\"figure {class}\" data-figure=\"{id}\"><span class=\"value\">{}</span><span class=\"label\">{}</span></div>",
        esc(value),
        esc(label)
    )
}

/// A table; `headers` starting with `#` are numeric (right-aligned, the `#` dropped). Cells
/// are HTML already (escape text with [`esc`]).
pub fn table(id: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let numeric: Vec<bool> = headers.iter().map(|h| h.starts_with('#')).collect();
    let mut out = format!("<table data-table=\"{id}\"><thead><tr>");
    for (header, &num) in headers.iter().zip(&numeric) {
        let class = if num { " class=\"num\"" } else { "" };
        let _ = write!(
            out,
            "<th{class}>{}</th>",
            esc(header.trim_start_matches('#'))
        );
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if numeric.get(i).copied().unwrap_or(false) {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

pub fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>", esc(text))
}

pub fn error_box(text: &str) -> String {
    format!("<p class=\"error\">{}</p>", esc(text))
}

/// SQL in a cell, normalized again (pg_stat_statements leaves the constants of utility
/// statements such as `SET work_mem = '64kB'` in place), shortened to a line; the whole text
/// in the tooltip.
pub fn sql_cell(sql: &str) -> String {
    let normalized = brisk_sql::normalize(sql);
    let one_line: String = normalized.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("<code title=\"{t}\">{t}</code>", t = esc(&one_line))
}

/// Rows per page of the long tables: a screen or two, and fast with thousands of tables.
pub const PAGE_ROWS: usize = 50;

/// The rows of page `page` (from 1) and the links to its neighbours; `query` is the rest of
/// the query string (already escaped for a URL).
pub fn paginate<T>(
    items: &[T],
    page: usize,
    path: &str,
    query: &str,
) -> (std::ops::Range<usize>, String) {
    let pages = items.len().div_ceil(PAGE_ROWS).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * PAGE_ROWS;
    let range = start..(start + PAGE_ROWS).min(items.len());
    let link = |p: usize, label: &str| {
        format!("<a href=\"{path}?page={p}{query}\" rel=\"{label}\">{label}</a>")
    };
    let mut nav = String::from("<div class=\"pager\">");
    if page > 1 {
        nav.push_str(&link(page - 1, "prev"));
    }
    let _ = write!(
        nav,
        "<span data-page=\"{page}\" data-pages=\"{pages}\">page {page} of {pages} ({} rows)</span>",
        count(items.len() as f64)
    );
    if page < pages {
        nav.push_str(&link(page + 1, "next"));
    }
    nav.push_str("</div>");
    (range, nav)
}

/// Percent-encodes a query-string value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// 12,345 (whole numbers), 1.5 (others below 100).
pub fn count(value: f64) -> String {
    if !value.is_finite() {
        return "–".into();
    }
    if value.fract() != 0.0 && value.abs() < 100.0 {
        return format!("{value:.1}");
    }
    let whole = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

pub fn bytes(value: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = value;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

pub fn ms(value: f64) -> String {
    if value >= 10_000.0 {
        secs(value / 1000.0)
    } else if value >= 100.0 {
        format!("{value:.0} ms")
    } else {
        format!("{value:.2} ms")
    }
}

/// 42 s, 3 min, 5.2 h, 4.1 d.
pub fn secs(value: f64) -> String {
    if value < 60.0 {
        format!("{value:.0} s")
    } else if value < 3600.0 {
        format!("{:.0} min", value / 60.0)
    } else if value < 86_400.0 {
        format!("{:.1} h", value / 3600.0)
    } else {
        format!("{:.1} d", value / 86_400.0)
    }
}

pub fn pct(value: f64) -> String {
    format!("{value:.1}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_everywhere_it_can_break_out() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_encode("a b&c=ö"), "a%20b%26c%3D%C3%B6");
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(count(-1000.0), "-1,000");
        assert_eq!(count(2.25), "2.2");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(secs(7200.0), "2.0 h");
    }

    #[test]
    fn no_value_reaches_a_sql_cell() {
        let cell = sql_cell("SET work_mem = '64kB'");
        assert!(!cell.contains("64kB"), "{cell}");
        let cell = sql_cell("SELECT * FROM t WHERE a = $1 AND b = 'x'");
        assert!(cell.contains("a = $1") && !cell.contains("'x'"), "{cell}");
    }

    #[test]
    fn pages_cover_every_row_once_and_clamp() {
        let items: Vec<usize> = (0..120).collect();
        let (first, nav) = paginate(&items, 1, "/space", "");
        assert_eq!(first, 0..50);
        assert!(nav.contains("page=2") && !nav.contains("prev"));
        let (last, nav) = paginate(&items, 99, "/space", "&q=x");
        assert_eq!(last, 100..120);
        assert!(nav.contains("page=2&q=x") && !nav.contains("next"));
        let (none, _) = paginate::<usize>(&[], 1, "/space", "");
        assert_eq!(none, 0..0);
    }
}
