//! Process metrics in the Prometheus text format (version 0.0.4).
//!
//! Counters and histograms are recorded where things happen (the gateway's
//! commands, the relay's deliveries) into one registry per process; gauges
//! that describe shared state (positions, lags, queue depth) are read from
//! the store when `/metrics` is scraped, so every process reports the same
//! truth. Labels never carry personal data: only route templates, outcomes
//! and projection names.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{LazyLock, Mutex},
};

/// A monotonically increasing count, by label values.
pub struct Counter {
    pub name: &'static str,
    pub help: &'static str,
}

/// A distribution of durations in seconds, by label values.
pub struct Histogram {
    pub name: &'static str,
    pub help: &'static str,
    /// Upper bounds of the buckets, increasing; `+Inf` is implied.
    pub buckets: &'static [f64],
}

/// A value read at scrape time.
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// Latency buckets from 1 ms to 10 s: commands and deliveries both fit.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

enum Value {
    Counter(u64),
    Histogram {
        bounds: &'static [f64],
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
}

struct Series {
    help: &'static str,
    value: Value,
}

/// (metric name, rendered labels) → series: sorted, so the output is stable.
static REGISTRY: LazyLock<Mutex<BTreeMap<(&'static str, String), Series>>> = LazyLock::new(Default::default);

fn registry() -> std::sync::MutexGuard<'static, BTreeMap<(&'static str, String), Series>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

impl Counter {
    pub fn inc(&self, labels: &[(&'static str, &str)]) {
        self.add(labels, 1);
    }

    pub fn add(&self, labels: &[(&'static str, &str)], by: u64) {
        let mut registry = registry();
        let series = registry.entry((self.name, render_labels(labels))).or_insert(Series {
            help: self.help,
            value: Value::Counter(0),
        });
        if let Value::Counter(count) = &mut series.value {
            *count += by;
        }
    }

    /// The current count of one series (0 when never incremented).
    pub fn get(&self, labels: &[(&'static str, &str)]) -> u64 {
        match registry().get(&(self.name, render_labels(labels))) {
            Some(Series {
                value: Value::Counter(count),
                ..
            }) => *count,
            _ => 0,
        }
    }
}

impl Histogram {
    pub fn observe(&self, labels: &[(&'static str, &str)], seconds: f64) {
        let mut registry = registry();
        let series = registry.entry((self.name, render_labels(labels))).or_insert(Series {
            help: self.help,
            value: Value::Histogram {
                bounds: self.buckets,
                counts: vec![0; self.buckets.len()],
                sum: 0.0,
                count: 0,
            },
        });
        if let Value::Histogram {
            bounds,
            counts,
            sum,
            count,
        } = &mut series.value
        {
            for (bound, n) in bounds.iter().zip(counts.iter_mut()) {
                if seconds <= *bound {
                    *n += 1;
                }
            }
            *sum += seconds;
            *count += 1;
        }
    }
}

/// `{a="x",b="y"}`, values escaped as the text format requires.
fn render_labels(labels: &[(&'static str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut out = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let escaped = value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n");
        let _ = write!(out, "{name}=\"{escaped}\"");
    }
    out.push('}');
    out
}

/// Adds `le` to a series' labels (`{a="x"}` → `{a="x",le="0.5"}`).
fn with_le(labels: &str, le: &str) -> String {
    match labels.strip_suffix('}') {
        Some(open) => format!("{open},le=\"{le}\"}}"),
        None => format!("{{le=\"{le}\"}}"),
    }
}

/// The registry's counters and histograms, then the given gauges, in the
/// Prometheus text format.
pub fn render(gauges: &[Gauge]) -> String {
    let mut out = String::new();
    let mut described = None;
    let registry = registry();
    for ((name, labels), series) in registry.iter() {
        let kind = match series.value {
            Value::Counter(_) => "counter",
            Value::Histogram { .. } => "histogram",
        };
        if described != Some(*name) {
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} {kind}", series.help);
            described = Some(*name);
        }
        match &series.value {
            Value::Counter(count) => {
                let _ = writeln!(out, "{name}{labels} {count}");
            }
            Value::Histogram {
                bounds,
                counts,
                sum,
                count,
            } => {
                for (bound, n) in bounds.iter().zip(counts) {
                    let _ = writeln!(out, "{name}_bucket{} {n}", with_le(labels, &bound.to_string()));
                }
                let _ = writeln!(out, "{name}_bucket{} {count}", with_le(labels, "+Inf"));
                let _ = writeln!(out, "{name}_sum{labels} {sum}");
                let _ = writeln!(out, "{name}_count{labels} {count}");
            }
        }
    }
    // A family's samples must follow its HELP and TYPE lines together.
    let mut gauges: Vec<&Gauge> = gauges.iter().collect();
    gauges.sort_by_key(|g| g.name);
    let mut described = None;
    for gauge in gauges {
        if described != Some(gauge.name) {
            let _ = writeln!(out, "# HELP {} {}\n# TYPE {} gauge", gauge.name, gauge.help, gauge.name);
            described = Some(gauge.name);
        }
        let labels: Vec<(&'static str, &str)> = gauge.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let _ = writeln!(out, "{}{} {}", gauge.name, render_labels(&labels), gauge.value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    static TEST_COUNTER: Counter = Counter {
        name: "rdv_test_things_total",
        help: "Things counted by the test.",
    };
    static TEST_HISTOGRAM: Histogram = Histogram {
        name: "rdv_test_duration_seconds",
        help: "Durations seen by the test.",
        buckets: &[0.1, 1.0],
    };

    #[test]
    fn counters_histograms_and_gauges_render_in_the_text_format() {
        TEST_COUNTER.inc(&[("kind", "a\"b")]);
        TEST_COUNTER.add(&[("kind", "a\"b")], 2);
        TEST_HISTOGRAM.observe(&[("route", "/x")], 0.05);
        TEST_HISTOGRAM.observe(&[("route", "/x")], 0.5);
        TEST_HISTOGRAM.observe(&[("route", "/x")], 5.0);
        let text = render(&[Gauge {
            name: "rdv_test_level",
            help: "A level.",
            labels: vec![("name", "n".into())],
            value: 7.0,
        }]);
        assert!(text.contains("# TYPE rdv_test_things_total counter\n"), "{text}");
        assert!(text.contains("rdv_test_things_total{kind=\"a\\\"b\"} 3\n"), "{text}");
        assert!(text.contains("# TYPE rdv_test_duration_seconds histogram\n"), "{text}");
        assert!(
            text.contains("rdv_test_duration_seconds_bucket{route=\"/x\",le=\"0.1\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("rdv_test_duration_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("rdv_test_duration_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("rdv_test_duration_seconds_count{route=\"/x\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("rdv_test_duration_seconds_sum{route=\"/x\"} 5.55\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE rdv_test_level gauge\nrdv_test_level{name=\"n\"} 7\n"),
            "{text}"
        );
        assert_eq!(TEST_COUNTER.get(&[("kind", "a\"b")]), 3);
    }
}
