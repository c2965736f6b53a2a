//! `brisk serve` in a real browser: headless Chromium loads every page against the demo
//! database (with a sandbox Redis), and the test asserts that each page renders its key
//! figures, that the charts have data, that the console stays free of errors, and that the
//! navigation reaches every page. With `BRISK_SCREENSHOTS=DIR` it saves a PNG of each page.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{demo_postgres, options, Dashboard};

/// Each page, its file name, the figures it must show and whether its charts must have
/// data.
const PAGES: [(&str, &str, &[&str], bool); 8] = [
    (
        "/",
        "overview",
        &["health", "critical", "warning", "connections", "cache_hit"],
        true,
    ),
    (
        "/queries",
        "queries",
        &["statements", "calls", "total_time"],
        true,
    ),
    (
        "/space",
        "space",
        &["total_size", "tables", "indexes"],
        false,
    ),
    (
        "/connections",
        "connections",
        &["connections", "active", "max_connections"],
        true,
    ),
    ("/live", "live", &["running", "blocked"], false),
    (
        "/maintenance",
        "maintenance",
        &["wraparound", "never_analyzed"],
        false,
    ),
    ("/tune", "tune", &["recommendations", "ram", "cpus"], false),
    (
        "/redis",
        "redis",
        &["memory", "hit_ratio", "keys", "no_ttl"],
        true,
    ),
];

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        let out = Command::new("which").arg(name).output().ok()?;
        out.status
            .success()
            .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    })
}

struct Loaded {
    dom: String,
    /// Console messages and uncaught errors Chromium logged.
    console: Vec<String>,
}

/// Loads `url` in headless Chromium and returns the DOM after its scripts ran (the virtual
/// time budget lets the refresh timer fire once) and what went to the console.
fn load(browser: &Path, profile: &Path, url: &str) -> Loaded {
    let output = Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=12000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let console = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect();
    Loaded {
        dom: String::from_utf8_lossy(&output.stdout).into_owned(),
        console,
    }
}

fn screenshot(browser: &Path, profile: &Path, url: &str, file: &Path) {
    let status = Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,1100",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", file.display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        file.exists(),
        "no screenshot {}: {}",
        file.display(),
        String::from_utf8_lossy(&status.stderr)
    );
}

/// The hrefs of the navigation bar.
fn nav_links(dom: &str) -> Vec<String> {
    let nav = dom
        .split("<nav>")
        .nth(1)
        .unwrap_or("")
        .split("</nav>")
        .next()
        .unwrap_or("");
    nav.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_console_check_catches_an_error() {
    // The detector of the test below, on a page that throws: it must see it.
    let Some(browser) = chromium() else {
        panic!("chromium is not installed (scripts/setup installs it)");
    };
    let profile = tempdir("console");
    let loaded = load(
        &browser,
        &profile,
        "data:text/html,<body><script>undefinedFunction()</script></body>",
    );
    assert!(
        loaded.console.iter().any(|l| l.contains("Uncaught")),
        "{:?}",
        loaded.console
    );
    std::fs::remove_dir_all(&profile).unwrap();
}

fn tempdir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("brisk-serve-browser-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_page_renders_in_chromium_with_figures_charts_and_no_console_errors() {
    let Some(browser) = chromium() else {
        panic!("chromium is not installed (scripts/setup installs it)");
    };
    let (_, url) = demo_postgres();
    let redis = brisk_sandbox::Redis::start().unwrap();
    // A cache with key patterns, no TTLs, hits and misses.
    redis
        .cli(&[
            "EVAL",
            "for i=1,3000 do redis.call('SET','cache:user:'..i, string.rep('x', 300)) end \
             for i=1,500 do redis.call('SET','session:'..i, 'abc', 'EX', 3600) end \
             for i=1,4000 do redis.call('GET','cache:user:'..(i % 3500)) end return 1",
            "0",
        ])
        .unwrap();
    let mut serve = options(&url);
    serve.redis = Some(brisk_redis::RedisTarget::parse(&redis.url()).unwrap());
    serve.sample_every = Duration::from_millis(500);
    serve.allow_kill = true;
    let dashboard = Dashboard::start(serve);
    // Traffic between samples, so the rate charts have something to draw.
    let (pg, _) = demo_postgres();
    for _ in 0..4 {
        pg.psql(
            brisk_sandbox::demo::DATABASE,
            "SELECT id, email FROM users WHERE id = 7;",
        )
        .unwrap();
        redis
            .cli(&[
                "EVAL",
                "for i=1,200 do redis.call('GET','cache:user:'..i) end return 1",
                "0",
            ])
            .unwrap();
        std::thread::sleep(Duration::from_millis(600));
    }
    dashboard.wait_for_samples(6);
    // A statement that runs through the page loads, with a value that must not show.
    let sleeper = std::thread::spawn(move || {
        pg.psql(
            brisk_sandbox::demo::DATABASE,
            "SET application_name = 'demo-app'; SELECT pg_sleep(120) WHERE 'card-4242' <> '';",
        )
    });

    let profile = tempdir("pages");
    let screenshots = std::env::var_os("BRISK_SCREENSHOTS").map(PathBuf::from);
    let overview = load(&browser, &profile, &dashboard.url("/"));
    let expected: Vec<String> = PAGES.iter().map(|(path, ..)| path.to_string()).collect();
    assert_eq!(nav_links(&overview.dom), expected, "the navigation");

    for (path, name, figures, charts) in PAGES {
        // Every page is reached through a link of the navigation as the browser rendered it.
        assert!(nav_links(&overview.dom).iter().any(|l| l == path));
        let loaded = load(&browser, &profile, &dashboard.url(path));
        let dom = &loaded.dom;
        assert!(dom.contains("<main>"), "{path} did not render: {dom}");
        assert!(
            dom.contains(&format!("href=\"{path}\" aria-current=\"page\"")),
            "{path} is not marked current"
        );
        for id in figures {
            let value = common::figure(dom, id).unwrap_or_else(|| panic!("{path}: no figure {id}"));
            assert!(
                !value.is_empty() && value != "–",
                "{path}: figure {id} is empty"
            );
        }
        if charts {
            let points = common::series_points(dom);
            assert!(
                !points.is_empty() && points.iter().all(|&n| n > 0),
                "{path}: charts without data {points:?}"
            );
        }
        assert!(
            loaded.console.is_empty(),
            "{path}: console: {:?}",
            loaded.console
        );
        if let Some(dir) = &screenshots {
            std::fs::create_dir_all(dir).unwrap();
            screenshot(
                &browser,
                &profile,
                &dashboard.url(path),
                &dir.join(format!("{name}.png")),
            );
        }
    }
    // The per-query page, reached from the queries page's first link.
    let queries = load(&browser, &profile, &dashboard.url("/queries")).dom;
    // Paging with OFFSET over an unindexed sort key: a scan now, and the advisor's index.
    let row = queries
        .split("<tr>")
        .find(|row| row.contains("FROM conversations ORDER BY updated_at DESC OFFSET"))
        .unwrap();
    let link = row
        .split("href=\"/queries/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let query = load(
        &browser,
        &profile,
        &dashboard.url(&format!("/queries/{link}")),
    );
    assert!(query.dom.contains("data-plan"), "no plan");
    // Its history: the sampler kept its counters, so after two samples the line has points.
    let calls_chart = query
        .dom
        .split("data-chart=\"query_calls\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no per-query chart: {}", query.dom));
    let points = common::series_points(calls_chart.split("</svg>").next().unwrap());
    assert!(
        !points.is_empty() && points.iter().all(|&n| n > 0),
        "the per-query chart has no points: {points:?}"
    );
    assert!(
        query.dom.contains("data-table=\"advised\""),
        "no advised index: {}",
        query.dom.split("advisor").nth(1).unwrap_or(&query.dom)
    );
    assert!(query.console.is_empty(), "{:?}", query.console);
    if let Some(dir) = &screenshots {
        screenshot(
            &browser,
            &profile,
            &dashboard.url(&format!("/queries/{link}")),
            &dir.join("query.png"),
        );
    }
    // Live: the sleeping statement, normalized, with its buttons (--allow-kill).
    let live = load(&browser, &profile, &dashboard.url("/live")).dom;
    assert!(
        live.contains("demo-app") && live.contains("pg_sleep($1)"),
        "{live}"
    );
    assert!(!live.contains("card-4242"), "a value reached /live");
    assert!(live.contains("action=\"/live/cancel\""));
    pg.psql("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'demo-app';")
        .unwrap();
    assert!(sleeper.join().unwrap().is_err());
    // Redis: the planted key patterns show.
    let redis_page = load(&browser, &profile, &dashboard.url("/redis")).dom;
    assert!(
        redis_page.contains("cache:user:"),
        "no key pattern on /redis"
    );
    drop(dashboard);
    std::fs::remove_dir_all(&profile).unwrap();
}
