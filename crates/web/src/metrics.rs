//! A small Prometheus registry: labelled counters and one latency histogram per component.
//!
//! Each component has its own registry, so `/metrics` on a listener shows that component only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A counter family: one name, many label sets.
#[derive(Debug, Default)]
struct CounterFamily {
    help: &'static str,
    series: RwLock<BTreeMap<String, Arc<AtomicU64>>>,
}

#[derive(Debug)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    component: String,
    counters: RwLock<BTreeMap<&'static str, Arc<CounterFamily>>>,
    latency: Histogram,
}

/// A component's metrics registry. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<Inner>);

impl Metrics {
    /// A registry whose series all carry `component="<component>"`.
    pub fn new(component: &str) -> Self {
        Metrics(Arc::new(Inner {
            component: component.to_owned(),
            ..Default::default()
        }))
    }

    /// Adds one to the counter `name` with the given labels (`[("result","success")]`).
    pub fn inc(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)]) {
        self.add(name, help, labels, 1);
    }

    /// Adds `by` to the counter `name` with the given labels.
    pub fn add(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)], by: u64) {
        let family = self.family(name, help);
        let key = render_labels(labels);
        let existing = family
            .series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let series = match existing {
            Some(series) => series,
            None => family
                .series
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key)
                .or_default()
                .clone(),
        };
        series.fetch_add(by, Ordering::Relaxed);
    }

    /// The current value of a counter (for tests and readiness reasoning).
    pub fn counter_value(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let counters = self.0.counters.read().unwrap_or_else(|p| p.into_inner());
        counters
            .get(name)
            .and_then(|f| {
                f.series
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&render_labels(labels))
                    .map(|v| v.load(Ordering::Relaxed))
            })
            .unwrap_or(0)
    }

    /// Records one request's latency.
    pub fn observe_latency(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let h = &self.0.latency;
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(h.buckets.iter()) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        h.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn family(&self, name: &'static str, help: &'static str) -> Arc<CounterFamily> {
        if let Some(f) = self
            .0
            .counters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return f.clone();
        }
        self.0
            .counters
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name)
            .or_insert_with(|| {
                Arc::new(CounterFamily {
                    help,
                    series: RwLock::default(),
                })
            })
            .clone()
    }

    /// The registry in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let component = escape_label(&self.0.component);
        let mut out = String::with_capacity(2048);
        let counters = self.0.counters.read().unwrap_or_else(|p| p.into_inner());
        for (name, family) in counters.iter() {
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} counter");
            for (labels, value) in family
                .series
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
            {
                let sep = if labels.is_empty() { "" } else { "," };
                let _ = writeln!(
                    out,
                    "{name}{{component=\"{component}\"{sep}{labels}}} {}",
                    value.load(Ordering::Relaxed)
                );
            }
        }
        let h = &self.0.latency;
        let name = "http_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Latency of HTTP requests served.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(h.buckets.iter()) {
            let _ = writeln!(
                out,
                "{name}_bucket{{component=\"{component}\",le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = h.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{component=\"{component}\",le=\"+Inf\"}} {count}"
        );
        let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{component=\"{component}\"}} {sum}");
        let _ = writeln!(out, "{name}_count{{component=\"{component}\"}} {count}");
        out
    }
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
    }
    out
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram_in_prometheus_text() {
        let m = Metrics::new("idp");
        m.inc(
            "logins_total",
            "Logins by result.",
            &[("result", "success")],
        );
        m.inc(
            "logins_total",
            "Logins by result.",
            &[("result", "success")],
        );
        m.inc(
            "logins_total",
            "Logins by result.",
            &[("result", "fail\"ure")],
        );
        m.observe_latency(Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("# TYPE logins_total counter"));
        assert!(text.contains("logins_total{component=\"idp\",result=\"success\"} 2"));
        assert!(text.contains("result=\"fail\\\"ure\"} 1"));
        assert!(
            text.contains("http_request_duration_seconds_bucket{component=\"idp\",le=\"0.005\"} 1")
        );
        assert!(
            text.contains("http_request_duration_seconds_bucket{component=\"idp\",le=\"0.001\"} 0")
        );
        assert!(text.contains("http_request_duration_seconds_count{component=\"idp\"} 1"));
        assert_eq!(m.counter_value("logins_total", &[("result", "success")]), 2);
    }
}
