//! The one metrics registry (DESIGN §9, §16): every part of the service reports into a
//! `prometheus-client` registry, and `/metrics` is that registry in the Prometheus text
//! format (0.0.4), so the names, labels, help and escaping come from one well-kept encoder
//! instead of text written by hand in each module.
//!
//! Why prometheus-client: it keeps one registry per service (several services run in one
//! test process, which a global recorder such as the `metrics` crate's cannot separate), it
//! encodes the Prometheus text format that the shipped alert rules and `promtool` read, and
//! it lets a part report values computed at scrape time ([`Report`]) next to live counters
//! and histograms.
//!
//! Bottom floor: uses nothing of this crate; every part that exports figures may use it.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
pub(crate) use prometheus_client::metrics::histogram::Histogram;

/// A part of the service that reports its figures at each scrape.
pub(crate) trait Report: Send + Sync + 'static {
    /// Writes every figure of this part.
    ///
    /// # Errors
    /// Only the encoder's (formatting) errors.
    fn report(&self, out: &mut Sink<'_, '_>) -> fmt::Result;
}

/// Where a [`Report`] writes: one call per metric family.
pub(crate) struct Sink<'a, 'b>(&'a mut DescriptorEncoder<'b>);

impl Sink<'_, '_> {
    /// A counter (`name` without `_total`: the encoder adds it).
    pub(crate) fn counter(&mut self, name: &str, help: &str, value: u64) -> fmt::Result {
        ConstCounter::new(value).encode(self.0.encode_descriptor(
            name,
            help,
            None,
            MetricType::Counter,
        )?)
    }

    /// A gauge.
    pub(crate) fn gauge(
        &mut self,
        name: &str,
        help: &str,
        value: impl EncodeGaugeValue,
    ) -> fmt::Result {
        ConstGauge::new(value).encode(self.0.encode_descriptor(
            name,
            help,
            None,
            MetricType::Gauge,
        )?)
    }

    /// A counter family: one series per label set.
    pub(crate) fn counters<S: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (S, u64)>,
    ) -> fmt::Result {
        let mut family = self
            .0
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, value) in series {
            ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }

    /// A gauge family: one series per label set.
    pub(crate) fn gauges<S: EncodeLabelSet, V: EncodeGaugeValue>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (S, V)>,
    ) -> fmt::Result {
        let mut family = self
            .0
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, value) in series {
            ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// A [`Report`] as the registry's collector.
struct Reporter(Arc<dyn Report>);

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reporter")
    }
}

impl Collector for Reporter {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        self.0.report(&mut Sink(&mut encoder))
    }
}

/// The service's registry.
#[derive(Debug, Default)]
pub(crate) struct Registry(prometheus_client::registry::Registry);

impl Registry {
    /// Adds a part that reports at scrape time.
    pub(crate) fn report(&mut self, part: Arc<dyn Report>) {
        self.0.register_collector(Box::new(Reporter(part)));
    }

    /// Adds a live histogram.
    pub(crate) fn histogram(&mut self, name: &str, help: &str, h: Histogram) {
        self.0.register(name, help, h);
    }

    /// Everything, in the Prometheus text format (0.0.4).
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.0) {
            tracing::warn!("encoding metrics: {e}");
        }
        out
    }
}

/// The `Content-Type` of [`Registry::encode`].
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
