"""Fixtures for webhook tests: a real HTTP receiver on 127.0.0.1 that can be told to fail, the receiver-side
snippet from docs/webhooks.md, subscriptions and events."""

from __future__ import annotations

import re
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import transaction

from apps.connectors import resilience
from apps.core.events import event_emit, outbox_relay
from apps.core.models import Event
from apps.webhooks.services import webhook_subscription_create

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


class Receiver:
    """Answers 200 unless told otherwise; records every request (headers, body) and the status it answered."""

    def __init__(self):
        self.plan: deque[tuple[int, dict, bytes]] = deque()
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 64 * 1024  # status, headers and body leave in one write (no Nagle/delayed-ACK stall)

            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    status, headers, answer = receiver.plan.popleft() if receiver.plan else (200, {}, b"ok")
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "status": status})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def fail(self, times: int, status: int = 500, headers: dict | None = None, body: bytes = b"down") -> None:
        for _ in range(times):
            self.plan.append((status, headers or {}, body))

    def event_ids(self, *, ok_only: bool = False) -> list[str]:
        return [r["headers"]["FinOps-Event-Id"] for r in self.requests if not ok_only or 200 <= r["status"] < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


class FakeClock:
    def sleep(self, seconds: float) -> None:
        raise AssertionError("webhooks never sleep: retries are scheduled")

    def uniform(self, low: float, high: float) -> float:
        return high  # deterministic "jitter": the upper bound


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(resilience, "clock", fake)
    return fake


@pytest.fixture
def receiver_snippet() -> dict:
    """The receiver-side code of docs/webhooks.md, executed: ``verify`` and ``handle``."""
    text = DOCS.read_text()
    section = text.split("## Verifying on the receiver", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", all_entities=True)


@pytest.fixture
def subscribe(admin_user, receiver):
    """Create a subscription through the service; returns (subscription, secret)."""

    def make(name: str = "erp-hook", *, url: str | None = None, event_types=("case.*",), **kw):
        return webhook_subscription_create(name=name, url=url or receiver.url, event_types=list(event_types),
                                           actor=admin_user, **kw)

    return make


@pytest.fixture
def relay_event(entity_a):
    """Emit an event and relay it (deliveries are created; sends are not run: no commit in a test transaction)."""

    def emit(event_type: str = "case.opened", payload: dict | None = None, aggregate=None) -> Event:
        with transaction.atomic():
            event = event_emit(event_type, aggregate or entity_a, payload if payload is not None else {"n": 1})
        outbox_relay()
        return event

    return emit
