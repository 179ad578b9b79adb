"""Prometheus metrics of one app, in the app's own registry.

A registry per app (not the process-global one) lets many apps live in one
process (tests, embedded mode next to a server) without duplicate-metric
errors. Every label value comes from a closed set, whatever a client sends,
so no request can add series: route templates (or "unmatched"), the standard
methods (anything else is "other"), the status codes the service answers with
(any other status is its class, e.g. "4xx"), job operations, model ids of the
catalog and the contract's error codes (anything else is "other"); never an
actor, a job or a trace id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from image_skill import __version__
from image_skill.contract.errors import ERROR_SPECS

REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
CONTENT_TYPE = CONTENT_TYPE_LATEST
OTHER = "other"
UNMATCHED = "unmatched"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The statuses the service itself answers with (plus 499, a client gone): kept
# exact, because 401 and 429 mean different things; any other becomes its class.
KNOWN_STATUSES = frozenset(
    {200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 499}
    | {spec.http_status for spec in ERROR_SPECS.values()}
)
# Codes telemetry records that no envelope carries (the client hung up first).
TELEMETRY_CODES = frozenset({"CLIENT_DISCONNECTED"})
_MAX_ROUTE_CHARS = 200


def method_label(method: str) -> str:
    """The method, if standard; else "other"."""
    return method if method in KNOWN_METHODS else OTHER


def status_label(status: int) -> str:
    """The exact status if the service answers with it, else its class ("5xx")."""
    if status in KNOWN_STATUSES:
        return str(status)
    return f"{status // 100}xx" if 100 <= status <= 599 else OTHER


def error_label(code: str | None) -> str | None:
    """A contract error code, "other" for anything else, None for no error."""
    if code is None:
        return None
    return code if code in ERROR_SPECS or code in TELEMETRY_CODES else OTHER


def route_label(route: str) -> str:
    """A route template (the app's own, so a closed set); anything odd is "unmatched"."""
    ok = route.startswith("/") and len(route) <= _MAX_ROUTE_CHARS
    return route if ok else UNMATCHED


class Metrics:
    """The service's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        Info("image_skill_build", "The running service version.", registry=registry).info(
            {"version": __version__}
        )

        def counter(name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name, documentation, labels, registry=registry)

        call = ("route", "method", "status")
        self.requests = counter(
            "image_skill_http_requests",
            "API calls by route template, method and HTTP status.",
            call,
        )
        self.latency = Histogram(
            "image_skill_http_request_duration_seconds",
            "API call latency by route template, method and HTTP status.",
            call,
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.errors = counter(
            "image_skill_http_errors",
            "Error envelopes by route template and error code.",
            ("route", "code"),
        )
        self.jobs = counter(
            "image_skill_jobs",
            "Creative jobs finished, by operation and final status.",
            ("operation", "status"),
        )
        self.provider_latency = Histogram(
            "image_skill_provider_latency_seconds",
            "Provider (model) call latency by model and outcome.",
            ("model", "outcome"),
            buckets=PROVIDER_BUCKETS,
            registry=registry,
        )
        self.credits = counter(
            "image_skill_credits",
            "Credits moved by creative jobs (reserved, debited, released), counted on commit.",
            ("movement",),
        )
        self.uploads = counter(
            "image_skill_uploads", "Uploads by outcome (stored, or the error code).", ("outcome",)
        )

    def observe_request(
        self, route: str, method: str, status: int, seconds: float, error_code: str | None
    ) -> None:
        """Count one finished API call, every label reduced to its closed set."""
        route, method, code = route_label(route), method_label(method), status_label(status)
        error = error_label(error_code)
        self.requests.labels(route, method, code).inc()
        self.latency.labels(route, method, code).observe(seconds)
        if error is not None:
            self.errors.labels(route, error).inc()
        if route == "/v1/upload" and method == "POST":
            self.uploads.labels("stored" if status < 400 else error or code).inc()

    def exposition(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)
