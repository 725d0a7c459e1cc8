"""Prometheus metrics of one worker (prometheus_client: the standard exposition, no hand-rolled
text format). Each app gets its own registry so several apps can live in one test process."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


@dataclasses.dataclass
class Metrics:
    registry: CollectorRegistry
    records_in: Counter
    records_out: Counter
    decisions: Counter
    alerts: Counter
    dead_letters: Counter
    shipments_screened: Counter
    latency: Histogram
    consumer_lag: Gauge
    policy_version: Gauge
    stalls: Counter

    @classmethod
    def create(cls) -> Metrics:
        r = CollectorRegistry()
        return cls(
            registry=r,
            records_in=Counter("chipscreen_records_in", "Records consumed", ["topic"], registry=r),
            records_out=Counter("chipscreen_records_out", "Records produced", ["topic"],
                                registry=r),
            decisions=Counter("chipscreen_decisions", "Decisions by outcome and reason code",
                              ["decision", "code"], registry=r),
            alerts=Counter("chipscreen_alerts", "Alerts by severity", ["subject", "severity"],
                           registry=r),
            dead_letters=Counter("chipscreen_dead_letters", "Dead-lettered records",
                                 ["source_topic", "kind"], registry=r),
            shipments_screened=Counter("chipscreen_shipments_screened",
                                       "Shipments screened", ["result"], registry=r),
            latency=Histogram(
                "chipscreen_processing_latency_seconds",
                "From the input record's timestamp to its output being sent",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                registry=r,
            ),
            consumer_lag=Gauge("chipscreen_consumer_lag", "Records behind the high watermark",
                               ["topic", "partition"], registry=r),
            policy_version=Gauge("chipscreen_policy_changes_applied",
                                 "PolicyChanges applied to the view", registry=r),
            stalls=Counter("chipscreen_stalled_partitions",
                            "Input partitions read to the end but not committed "
                            "(streams/stallwatch.py); the worker reports unhealthy",
                            ["topic", "partition"], registry=r),
        )  # fmt: skip

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
