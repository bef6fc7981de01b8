"""Request body limit, Prometheus metrics and a request log that never shows user ids.

Metrics and log lines name the route *template* (``/v1/users/{user_id}/profile``), never
the concrete path, because the path carries the raw user id.
"""

from __future__ import annotations

import json
import logging
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("driftrec.service.access")


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("driftrec_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "driftrec_request_latency_seconds", "HTTP request latency", ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry)
        self.events = Counter("driftrec_events_ingested_total", "events stored",
                              registry=self.registry)
        self.duplicates = Counter("driftrec_events_duplicate_total",
                                  "events skipped as retries of a stored event_id",
                                  registry=self.registry)
        self.recommendations = Counter("driftrec_recommendations_total",
                                       "recommendation lists served", ["source"],
                                       registry=self.registry)


async def _send_json(send: Send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def _field_error(loc: str, msg: str, kind: str) -> dict:
    """The API's error body (``driftrec.service.validation.error_body``) for one field."""
    return {"detail": [{"loc": loc.split("."), "msg": msg, "type": kind}],
            "message": f"{loc}: {msg}"}


class BodyLimitMiddleware:
    """Rejects bodies over ``max_bytes`` with 413 before the handler sees them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = _field_error("body", f"request body exceeds max_body_bytes={self.max_bytes}",
                               "too_large")
        lengths = {v.strip() for k, v in scope.get("headers") or [] if k == b"content-length"}
        if lengths:
            if len(lengths) > 1 or not next(iter(lengths)).isdigit():
                # not a length (or several): the body's end is unknown, so nothing is read
                await _send_json(send, 400, _field_error(
                    "header.content-length", "must be one non-negative whole number of bytes",
                    "invalid_header"))
                return
            if int(next(iter(lengths))) > self.max_bytes:
                await _send_json(send, 413, message)
                return
        received = 0
        rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            msg = await receive()
            if msg["type"] == "http.request" and not rejected:
                received += len(msg.get("body", b""))
                if received > self.max_bytes:
                    # Answer now and tell the app the client is gone: whatever it would
                    # answer (frameworks turn a failed body read into 400) is dropped.
                    rejected = True
                    await _send_json(send, 413, message)
                    return {"type": "http.disconnect"}
            return msg

        async def guarded_send(msg: Message) -> None:
            if not rejected:
                await send(msg)

        await self.app(scope, limited_receive, guarded_send)


class MetricsMiddleware:
    """Counts and times every request by route template; logs one line per request
    (DEBUG)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - start
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(elapsed)
            # one line per request at DEBUG: at INFO a busy service spends its time logging
            log.debug("%s %s %d %.1fms", method, template, status, elapsed * 1000)
