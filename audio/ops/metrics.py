"""Prometheus metrics, one registry per app (no process-global collectors).

What an operator alerts on: requests by route and status (429s and 503s included) and
their latency; inference jobs running or queued and the windows waiting in each
batcher; batches and windows decoded (their ratio is the mean batch size); audio
seconds transcribed and rendered; model loads and unloads; the process's memory and
CPU (prometheus_client's process collector: `process_resident_memory_bytes`, ...).
The rooms keep plain counters; `ServiceCollector` reads them at each scrape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from audio.services.pool import InferencePool
from audio.services.stt import SttService
from audio.services.tts import TtsService


class Services(Protocol):
    """What the metrics read: the services' own counters."""

    @property
    def stt(self) -> SttService: ...

    @property
    def tts(self) -> TtsService: ...

    @property
    def pool(self) -> InferencePool: ...


class ServiceCollector(Collector):
    """Reads the services' own counters at scrape time."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        stt, tts, pool = self.services.stt, self.services.tts, self.services.pool
        pending = GaugeMetricFamily("speech_inference_pending", "Inference jobs running or queued")
        pending.add_metric([], pool.pending)
        yield pending
        queued = GaugeMetricFamily(
            "speech_batcher_queued_windows", "30-s windows waiting for a decoder", labels=["model"]
        )
        batches = CounterMetricFamily(
            "speech_batches",
            "Batches decoded (windows / batches = mean batch size)",
            labels=["model"],
        )
        windows = CounterMetricFamily("speech_windows", "Windows decoded", labels=["model"])
        cancelled = CounterMetricFamily(
            "speech_windows_cancelled", "Queued windows dropped because their client left",
            labels=["model"],
        )  # fmt: skip
        for model_id, engine in stt.engines().items():
            queued.add_metric([model_id], engine.batcher.pending())
            batches.add_metric([model_id], engine.batcher.batches_run)
            windows.add_metric([model_id], engine.batcher.windows_run)
            cancelled.add_metric([model_id], engine.batcher.windows_cancelled)
        yield from (queued, batches, windows, cancelled)
        audio = CounterMetricFamily(
            "speech_audio_seconds", "Audio seconds transcribed (in) and rendered (out)",
            labels=["direction"],
        )  # fmt: skip
        audio.add_metric(["in"], stt.seconds_transcribed)
        audio.add_metric(["out"], tts.seconds_rendered)
        yield audio
        loads = CounterMetricFamily("speech_model_loads", "Model loads", labels=["kind", "model"])
        unloads = CounterMetricFamily(
            "speech_model_unloads", "Models unloaded after idling", labels=["kind", "model"]
        )
        for kind, cache in (("stt", stt.registry.cache), ("tts", tts.engines.cache)):
            for model_id, count in cache.load_counts.items():
                loads.add_metric([kind, model_id], count)
            for model_id, count in cache.unload_counts.items():
                unloads.add_metric([kind, model_id], count)
        yield from (loads, unloads)


class Metrics:
    def __init__(self, services: Services) -> None:
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
        self.registry.register(ServiceCollector(services))
        ProcessCollector(registry=self.registry)
