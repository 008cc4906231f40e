//! What an operator watches: Prometheus metrics through the core SDK's own
//! exporter, so that the standard worker series keep their names and
//! labels, the host's per-plugin series beside them on the same meter, and
//! the health probes on the same address ([`server`]).
//!
//! Off by default: without `--metrics-bind`, `Telemetry::default()` records
//! nothing and costs a branch per execution.

pub mod otel;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use temporalio_common::telemetry::metrics::{
    CoreMeter, Counter, Gauge, Histogram, HistogramDuration, MetricAttributes, MetricKeyValue, MetricParameters,
    NewAttributes,
};

use crate::failure::Outcome;
use crate::memory::MemoryBudget;

/// The host's own instruments, created once on the exporter's meter.
struct Instruments {
    meter: Arc<dyn CoreMeter>,
    executions: Counter,
    latency: HistogramDuration,
    plugins_loaded: Gauge,
    plugins_refused: Gauge,
    memory_budget: Gauge,
    memory_used: Gauge,
    memory_waiting: Gauge,
    memory_refusals: Counter,
    instantiation: HistogramDuration,
    memory_peak: Histogram,
    fuel: Counter,
    grants_refused: Counter,
    loads: Counter,
    reloads: Counter,
}

/// The name of the per-execution peak memory histogram, whose buckets are
/// sizes rather than the exporter's default (milliseconds-like) bounds.
pub const MEMORY_PEAK: &str = "activity_host_execution_memory_peak";

/// Bucket bounds for [`MEMORY_PEAK`], in bytes: 64 KiB to 4 GiB by fours.
pub fn memory_peak_buckets() -> Vec<f64> {
    (0..7).map(|i| (64u64 << 10 << (2 * i)) as f64).collect()
}

impl Instruments {
    /// A per-plugin series' labels: plugin file, activity type, then `extra`.
    fn labels<const N: usize>(
        &self,
        plugin: &str,
        activity_type: &str,
        extra: [MetricKeyValue; N],
    ) -> MetricAttributes {
        let mut all = vec![
            MetricKeyValue::new("plugin", plugin.to_string()),
            MetricKeyValue::new("activity_type", activity_type.to_string()),
        ];
        all.extend(extra);
        self.meter.new_attributes(NewAttributes::new(all))
    }
}

/// Cheap to clone; every clone records into the same instruments.
#[derive(Clone, Default)]
pub struct Telemetry {
    instruments: Option<Arc<Instruments>>,
}

impl Telemetry {
    /// Records into `meter` (the core SDK's Prometheus meter).
    pub fn new(meter: Arc<dyn CoreMeter>) -> Telemetry {
        let param = |name: &'static str, description: &'static str, unit: &'static str| {
            MetricParameters::builder().name(name).description(description).unit(unit).build()
        };
        let instruments = Instruments {
            executions: meter.counter(param(
                "activity_host_executions",
                "Executions by plugin file, activity type, outcome and failure type",
                "",
            )),
            latency: meter.histogram_duration(param(
                "activity_host_execution_latency",
                "Time from the start of an execution to its outcome, instantiation included",
                "duration",
            )),
            plugins_loaded: meter.gauge(param("activity_host_plugins_loaded", "Plugins serving now", "")),
            plugins_refused: meter.gauge(param(
                "activity_host_plugins_refused",
                "Plugin files in the directory that were refused",
                "",
            )),
            memory_budget: meter.gauge(param(
                "activity_host_memory_budget",
                "Guest memory all instances may hold together (--max-memory)",
                "bytes",
            )),
            memory_used: meter.gauge(param(
                "activity_host_memory_used",
                "Guest memory held by instances and the instance pool's resident slots",
                "bytes",
            )),
            memory_waiting: meter.gauge(param(
                "activity_host_executions_waiting_for_memory",
                "Executions waiting for their memory to fit the budget (the worker polls no tasks meanwhile)",
                "",
            )),
            memory_refusals: meter.counter(param(
                "activity_host_memory_refusals",
                "Growths of running instances refused because the budget was in use",
                "",
            )),
            instantiation: meter.histogram_duration(param(
                "activity_host_instantiation_latency",
                "Time to instantiate a fresh instance for an execution, by plugin file and activity type",
                "duration",
            )),
            memory_peak: meter.histogram(param(
                MEMORY_PEAK,
                "Most guest memory (memories and tables) one execution held, by plugin file and activity type",
                "bytes",
            )),
            fuel: meter.counter(param(
                "activity_host_fuel_consumed",
                "Fuel executions used, for plugins with a fuel limit, by plugin file and activity type",
                "",
            )),
            grants_refused: meter.counter(param(
                "activity_host_grants_refused",
                "Requests a plugin made beyond its grants (grant = http, tcp or postgres), refused",
                "",
            )),
            loads: meter.counter(param(
                "activity_host_plugin_loads",
                "Plugin files loaded, by file and whether the compile cache had them (cache = hit or miss)",
                "",
            )),
            reloads: meter.counter(param(
                "activity_host_plugin_reloads",
                "Plugin files loaded again while the host ran (replaced, or added back)",
                "",
            )),
            meter,
        };
        Telemetry { instruments: Some(Arc::new(instruments)) }
    }

    pub fn is_on(&self) -> bool {
        self.instruments.is_some()
    }

    /// One execution's end. `plugin` is the file that served it, empty when
    /// no plugin registers the activity type.
    pub fn execution(&self, plugin: &str, activity_type: &str, outcome: &Outcome, took: Duration) {
        let Some(instruments) = &self.instruments else { return };
        let (result, failure_type) = match outcome {
            Outcome::Completed(_) => ("completed", ""),
            Outcome::Failed(failure) => ("failed", failure.error_type.as_str()),
            Outcome::Cancelled(_) => ("cancelled", ""),
        };
        // Every recording of a series carries the same label names, as
        // Prometheus requires: `failure_type` is empty unless it failed.
        let outcome_labels = instruments.labels(
            plugin,
            activity_type,
            [MetricKeyValue::new("outcome", result), MetricKeyValue::new("failure_type", failure_type.to_string())],
        );
        instruments.executions.add(1, &outcome_labels);
        instruments.latency.record(took, &instruments.labels(plugin, activity_type, []));
    }

    /// What one execution's instance cost: its instantiation, the most
    /// memory it held and, if metered, the fuel it used.
    pub fn instance(
        &self,
        plugin: &str,
        activity_type: &str,
        instantiation: Option<Duration>,
        peak: u64,
        fuel: Option<u64>,
    ) {
        let Some(instruments) = &self.instruments else { return };
        let labels = instruments.labels(plugin, activity_type, []);
        // A reused instance was not instantiated for this execution.
        if let Some(instantiation) = instantiation {
            instruments.instantiation.record(instantiation, &labels);
        }
        instruments.memory_peak.record(peak, &labels);
        if let Some(fuel) = fuel {
            instruments.fuel.add(fuel, &labels);
        }
    }

    /// A plugin asked for something its manifest does not grant.
    pub fn grant_refused(&self, plugin: &str, activity_type: &str, grant: &'static str) {
        let Some(instruments) = &self.instruments else { return };
        let labels = instruments.labels(plugin, activity_type, [MetricKeyValue::new("grant", grant)]);
        instruments.grants_refused.add(1, &labels);
    }

    /// A plugin file was loaded; `reload` when the host was already running.
    pub fn plugin_loaded(&self, plugin: &str, cached: bool, reload: bool) {
        let Some(instruments) = &self.instruments else { return };
        let cache = if cached { "hit" } else { "miss" };
        let plugin = MetricKeyValue::new("plugin", plugin.to_string());
        let attributes = |pairs| instruments.meter.new_attributes(NewAttributes::new(pairs));
        instruments.loads.add(1, &attributes(vec![plugin.clone(), MetricKeyValue::new("cache", cache)]));
        if reload {
            instruments.reloads.add(1, &attributes(vec![plugin]));
        }
    }

    /// The plugin directory as it stands.
    pub fn plugins(&self, loaded: usize, refused: usize) {
        let Some(instruments) = &self.instruments else { return };
        let none = instruments.meter.new_attributes(NewAttributes::default());
        instruments.plugins_loaded.record(loaded as u64, &none);
        instruments.plugins_refused.record(refused as u64, &none);
    }
}

impl Telemetry {
    /// Samples the guest memory budget every second until the task is aborted.
    pub fn watch_memory(&self, budget: Arc<MemoryBudget>) -> Option<tokio::task::JoinHandle<()>> {
        let instruments = self.instruments.clone()?;
        Some(tokio::spawn(async move {
            let none = instruments.meter.new_attributes(NewAttributes::default());
            let mut refusals = 0;
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                let stats = budget.stats();
                instruments.memory_budget.record(stats.total, &none);
                instruments.memory_used.record(stats.used, &none);
                instruments.memory_waiting.record(stats.waiting as u64, &none);
                instruments.memory_refusals.add(stats.refusals - refusals, &none);
                refusals = stats.refusals;
            }
        }))
    }
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").field("on", &self.is_on()).finish()
    }
}
