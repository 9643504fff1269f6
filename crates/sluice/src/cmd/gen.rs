//! `sluice gen page-views`: realistic, reproducible sample data.
//!
//! Each line is `{"ts":<epoch ms>,"user_id":<int>,"url":"/...","referrer":"..."}`. The shape
//! is what a streaming demo needs:
//! - URLs follow a Zipf law (s = 1.1) over a fixed catalog of 1000 paths (`/`, `/cart`,
//!   `/products/<id>`, `/blog/<slug>`, `/category/<name>`, ...), so a few pages dominate.
//! - About 100 000 users, uniformly.
//! - Event time advances by `1000 / rate` ms per event from `--start-ms`, but events arrive
//!   out of order: each is up to 3 s older than its position says (mostly much less), and
//!   about 0.1% are late by 10 to 60 s.
//!
//! The same `--seed` gives byte-identical output (for this build: `StdRng`'s algorithm is
//! pinned by Cargo.lock).

use std::io::{BufWriter, Write};

use anyhow::Result;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::cli::PageViewsArgs;

/// Number of distinct paths.
const CATALOG_SIZE: usize = 1000;
/// Zipf exponent of page popularity.
const ZIPF_S: f64 = 1.1;
/// Number of distinct users.
const USERS: u32 = 100_000;
/// Largest out-of-order delay of an on-time event, ms.
const MAX_JITTER_MS: f64 = 3000.0;
/// Fraction of late events, and how late they are (ms).
const LATE_FRACTION: f64 = 0.001;
const LATE_MS: std::ops::Range<i64> = 10_000..60_000;
/// Where visitors come from, with weights; `None` means another page of the site itself.
const REFERRERS: [(Option<&str>, u32); 7] = [
    (Some(""), 40),
    (None, 25),
    (Some("https://www.google.com/"), 20),
    (Some("https://www.bing.com/"), 5),
    (Some("https://duckduckgo.com/"), 4),
    (Some("https://news.ycombinator.com/"), 4),
    (Some("https://x.com/"), 2),
];
/// The site's own origin, for internal referrers.
const SITE: &str = "https://shop.example.com";

/// Runs `sluice gen page-views`.
pub fn page_views(args: &PageViewsArgs) -> Result<()> {
    let mut generator = PageViews::new(args.seed, args.start_ms, args.rate);
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut line = Vec::with_capacity(256);
    for _ in 0..args.count {
        line.clear();
        generator.write_next(&mut line)?;
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(())
}

/// What [`PageViews::write_next`] wrote, for callers that need more than the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageView {
    /// The event time, epoch ms.
    pub(crate) ts: i64,
    /// Where the URL is in the output buffer.
    pub(crate) url: std::ops::Range<usize>,
}

/// The page-view generator (also used by `sluice demo`).
pub(crate) struct PageViews {
    rng: StdRng,
    /// Paths by popularity rank.
    catalog: Vec<String>,
    /// `zipf_cdf[r]`: probability that a view hits a rank ≤ r (the last entry is 1).
    zipf_cdf: Vec<f64>,
    /// Cumulative referrer weights.
    referrer_cdf: Vec<u32>,
    start_ms: i64,
    rate: u64,
    /// Index of the next event.
    next: u64,
}

impl PageViews {
    /// A generator of events starting at event time `start_ms`, `rate` events per second of
    /// event time.
    pub(crate) fn new(seed: u64, start_ms: i64, rate: u64) -> Self {
        let weights: Vec<f64> = (1..=CATALOG_SIZE).map(|rank| (rank as f64).powf(-ZIPF_S)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let mut zipf_cdf: Vec<f64> = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        if let Some(last) = zipf_cdf.last_mut() {
            *last = 1.0;
        }
        let mut acc = 0;
        let referrer_cdf = REFERRERS
            .iter()
            .map(|(_, w)| {
                acc += w;
                acc
            })
            .collect();
        PageViews {
            rng: StdRng::seed_from_u64(seed),
            catalog: catalog(),
            zipf_cdf,
            referrer_cdf,
            start_ms,
            rate: rate.max(1),
            next: 0,
        }
    }

    /// A random path, Zipf-distributed by rank.
    fn page(&mut self) -> &str {
        let u: f64 = self.rng.random();
        let rank = self.zipf_cdf.partition_point(|&c| c <= u).min(self.catalog.len() - 1);
        &self.catalog[rank]
    }

    /// Appends the next event to `out` as one JSON line (with its `\n`).
    pub(crate) fn write_next(&mut self, out: &mut Vec<u8>) -> std::io::Result<PageView> {
        let i = self.next;
        self.next += 1;
        let on_time = self
            .start_ms
            .saturating_add(i64::try_from(u128::from(i) * 1000 / u128::from(self.rate)).unwrap_or(i64::MAX));
        let delay = if self.rng.random_bool(LATE_FRACTION) {
            self.rng.random_range(LATE_MS)
        } else {
            // Cubed: most events are nearly on time, a few are seconds behind.
            let u: f64 = self.rng.random();
            (u * u * u * MAX_JITTER_MS) as i64
        };
        self.write_at(out, on_time - delay)
    }

    /// Appends an event at exactly event time `ts` (no disorder, never late) to `out` as one
    /// JSON line (with its `\n`). For `sluice demo --realtime`, where `ts` is the wall clock.
    pub(crate) fn write_at(&mut self, out: &mut Vec<u8>, ts: i64) -> std::io::Result<PageView> {
        let user_id = self.rng.random_range(1..=USERS);
        let pick = self.rng.random_range(0..self.referrer_cdf.last().copied().unwrap_or(1));
        let slot = self.referrer_cdf.partition_point(|&c| c <= pick).min(REFERRERS.len() - 1);
        write!(out, "{{\"ts\":{ts},\"user_id\":{user_id},\"url\":\"")?;
        let url_start = out.len();
        out.extend_from_slice(self.page().as_bytes());
        let url = url_start..out.len();
        out.extend_from_slice(b"\",\"referrer\":\"");
        match REFERRERS[slot].0 {
            Some(external) => out.extend_from_slice(external.as_bytes()),
            None => {
                out.extend_from_slice(SITE.as_bytes());
                out.extend_from_slice(self.page().as_bytes());
            }
        }
        out.extend_from_slice(b"\"}\n");
        Ok(PageView { ts, url })
    }
}

/// The site's paths, most popular first. Fixed (independent of the seed), and made only of
/// characters that need no escaping in JSON.
fn catalog() -> Vec<String> {
    const TOP: [&str; 14] = [
        "/",
        "/products",
        "/cart",
        "/search",
        "/blog",
        "/checkout",
        "/login",
        "/account",
        "/pricing",
        "/signup",
        "/about",
        "/contact",
        "/help",
        "/orders",
    ];
    const CATEGORIES: [&str; 16] = [
        "shoes",
        "jackets",
        "shirts",
        "bags",
        "hats",
        "socks",
        "watches",
        "sunglasses",
        "outdoor",
        "kitchen",
        "garden",
        "books",
        "toys",
        "audio",
        "cameras",
        "sale",
    ];
    const ADJECTIVES: [&str; 16] = [
        "quick",
        "honest",
        "modern",
        "simple",
        "practical",
        "hidden",
        "better",
        "complete",
        "small",
        "lazy",
        "seasonal",
        "durable",
        "affordable",
        "essential",
        "classic",
        "new",
    ];
    const NOUNS: [&str; 16] = [
        "guide",
        "checklist",
        "review",
        "comparison",
        "story",
        "tips",
        "recipes",
        "habits",
        "gifts",
        "trends",
        "mistakes",
        "ideas",
        "basics",
        "secrets",
        "lessons",
        "questions",
    ];
    let mut paths: Vec<String> = TOP.iter().map(|p| (*p).to_owned()).collect();
    let (mut posts, mut categories) = (0usize, 0usize);
    for j in 0..CATALOG_SIZE - TOP.len() {
        let path = match j % 10 {
            6..=8 => {
                let k = posts;
                posts += 1;
                let slug = format!("{}-{}", ADJECTIVES[k % 16], NOUNS[(k / 16) % 16]);
                match k / 256 {
                    0 => format!("/blog/{slug}"),
                    n => format!("/blog/{slug}-part-{}", n + 1),
                }
            }
            9 if categories < CATEGORIES.len() => {
                categories += 1;
                format!("/category/{}", CATEGORIES[categories - 1])
            }
            // 7919 is prime to 10000, so product ids are distinct.
            _ => format!("/products/{}", (j * 7919 + 101) % 10_000),
        };
        paths.push(path);
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(seed: u64, n: usize) -> Vec<String> {
        let mut g = PageViews::new(seed, 1_767_225_600_000, 1000);
        (0..n)
            .map(|_| {
                let mut line = Vec::new();
                g.write_next(&mut line).unwrap();
                String::from_utf8(line).unwrap()
            })
            .collect()
    }

    #[test]
    fn catalog_paths_are_distinct() {
        let c = catalog();
        assert_eq!(c.len(), CATALOG_SIZE);
        let distinct: std::collections::BTreeSet<_> = c.iter().collect();
        assert_eq!(distinct.len(), CATALOG_SIZE);
        assert!(c.iter().all(|p| p.starts_with('/') && !p.contains(['"', '\\'])));
    }

    #[test]
    fn write_next_returns_the_event_time_and_where_the_url_is() {
        let mut g = PageViews::new(3, 1_767_225_600_000, 1000);
        for _ in 0..100 {
            let mut line = b"prefix".to_vec();
            let view = g.write_next(&mut line).unwrap();
            let json: serde_json::Value = serde_json::from_slice(&line[6..]).unwrap();
            assert_eq!(json["ts"].as_i64(), Some(view.ts));
            assert_eq!(json["url"].as_str().map(str::as_bytes), Some(&line[view.url]));
        }
    }

    #[test]
    fn deterministic_per_seed() {
        assert_eq!(lines(7, 100), lines(7, 100));
        assert_ne!(lines(7, 100), lines(8, 100));
    }

    #[test]
    fn shape_skew_and_disorder() {
        let events: Vec<serde_json::Value> =
            lines(1, 20_000).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let mut home = 0;
        let mut out_of_order = 0;
        let mut prev = i64::MIN;
        for (i, e) in events.iter().enumerate() {
            let ts = e["ts"].as_i64().unwrap();
            let on_time = 1_767_225_600_000 + i as i64;
            assert!(ts <= on_time && ts > on_time - 60_000, "{e}");
            assert!((1..=i64::from(USERS)).contains(&e["user_id"].as_i64().unwrap()));
            assert!(e["referrer"].is_string());
            home += usize::from(e["url"] == "/");
            out_of_order += usize::from(ts < prev);
            prev = prev.max(ts);
        }
        // Rank 1 of a Zipf(1.1) law over 1000 items gets about 19% of the views.
        assert!((3000..4600).contains(&home), "{home}");
        assert!(out_of_order > 1000, "{out_of_order}");
    }
}
