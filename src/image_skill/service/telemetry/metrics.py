"""Prometheus metrics of one app, in the app's own registry.

A registry per app (not the process-global one) lets many apps live in one
process (tests, embedded mode next to a server) without duplicate-metric
errors. Labels are bounded: route templates, methods, status codes, job
operations, model ids of the catalog and envelope error codes; never an
actor, a job or a trace id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from image_skill import __version__

REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The service's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        Info("image_skill_build", "The running service version.", registry=registry).info(
            {"version": __version__}
        )
        self.requests = Counter(
            "image_skill_http_requests",
            "API calls by route template, method and HTTP status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "image_skill_http_request_duration_seconds",
            "API call latency by route template, method and HTTP status.",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "image_skill_http_errors",
            "Error envelopes by route template and error code.",
            ["route", "code"],
            registry=registry,
        )
        self.jobs = Counter(
            "image_skill_jobs",
            "Creative jobs finished, by operation and final status.",
            ["operation", "status"],
            registry=registry,
        )
        self.provider_latency = Histogram(
            "image_skill_provider_latency_seconds",
            "Provider (model) call latency by model and outcome.",
            ["model", "outcome"],
            buckets=PROVIDER_BUCKETS,
            registry=registry,
        )
        self.credits = Counter(
            "image_skill_credits",
            "Credits moved by creative jobs (reserved, debited, released), counted on commit.",
            ["movement"],
            registry=registry,
        )
        self.uploads = Counter(
            "image_skill_uploads",
            "Uploads by outcome (stored, or the error code).",
            ["outcome"],
            registry=registry,
        )

    def observe_request(
        self, route: str, method: str, status: int, seconds: float, error_code: str | None
    ) -> None:
        """Count one finished API call."""
        code = str(status)
        self.requests.labels(route, method, code).inc()
        self.latency.labels(route, method, code).observe(seconds)
        if error_code is not None:
            self.errors.labels(route, error_code).inc()
        if route == "/v1/upload" and method == "POST":
            self.uploads.labels("stored" if status < 400 else error_code or code).inc()

    def exposition(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)
