"""Prometheus metrics, one registry per app (no process-global collectors)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, queue_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "speech_requests_total",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "speech_request_seconds",
            "HTTP request latency by route",
            ["route"],
            registry=self.registry,
        )
        depth = Gauge(
            "speech_inference_pending", "Inference jobs running or queued", registry=self.registry
        )
        depth.set_function(queue_depth)
