"""Outbox-to-webhook benchmark: our relay and deliveries next to a bare HTTP loop, same machine, same run.

    python bench/bench_outbox.py [--events 2000]

Needs PostgreSQL (DATABASE_URL; the benchmark uses its own database ``<name>_outbox_bench``, created and migrated
here by bench_statements.py's set-up). It emits N events, then times:

* ours: ``outbox_relay_task`` hands each batch of events to the webhook subscriber (one ``WebhookDelivery`` per
  event, written in bulk), and on commit the send tasks run in-process (``CELERY_TASK_ALWAYS_EAGER``): claim a
  batch under row locks, signed POSTs, attempt rows, status changes with history — until every event is delivered;
* bare: the same bodies POSTed one after the other with the same HTTP client (``httpx.Client``, built by
  ``new_http_client()`` as our deliveries' is) to the same receiver, nothing else.

Both sides start with their HTTP client built (building one loads the TLS context, ~0.1 s; a worker builds its
client once per process), and both open their connection to the receiver inside the clock.

The receiver is a threaded ``http.server`` on 127.0.0.1 answering 200 (HTTP/1.1 keep-alive).
Target (issue "Connectors, sandbox partners and the Celery backbone"): ours within 2x of bare.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_statements  # noqa: E402  same database set-up (created if missing, migrated)


def _setup_django() -> None:
    """Like bench_statements, on a database of our own (``<db>_outbox_bench``): bench_statements truncates
    core_event in ``<db>_bench``, and benchmarks may run side by side."""
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/finops")
    base, _, name = url.rpartition("/")
    name = name.split("?")[0].removesuffix("_bench")
    os.environ["DATABASE_URL"] = f"{base}/{name}_outbox_bench"
    bench_statements._setup_django()


class _Receiver:
    def __init__(self):
        self.count = 0
        self.ids: set[str] = set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 64 * 1024  # status, headers and body leave in one write (no Nagle/delayed-ACK stall)

            def do_POST(self):  # noqa: N802 - http.server API
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.count += 1
                    receiver.ids.add(self.headers.get("FinOps-Event-Id", ""))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def reset(self) -> None:
        with self.lock:
            self.count = 0
            self.ids.clear()


def _prepare(receiver: _Receiver, n: int) -> None:
    import logging

    from django.db import connection, transaction

    from apps.core import events
    from apps.core.events import event_emit
    from apps.org.models import LegalEntity
    from apps.org.services import entity_upsert
    from apps.webhooks.services import webhook_subscription_create

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE webhooks_deliveryattempt, webhooks_webhookdelivery, webhooks_historicalwebhookdelivery, "
            "webhooks_webhooksubscription, webhooks_historicalwebhooksubscription, core_event CASCADE"
        )
    entity_upsert(code="BENCH", name="Bench BV", country="NL", base_currency="EUR")
    entity = LegalEntity.objects.get(code="BENCH")
    webhook_subscription_create(name="bench", url=receiver.url, event_types=["bench.*"], actor=None)
    relay_soon = events._relay_soon
    events._relay_soon = lambda: None  # emit now, relay when the clock runs
    try:
        for start in range(0, n, 500):
            with transaction.atomic():
                for i in range(start, min(n, start + 500)):
                    event_emit("bench.happened", entity, {"entity": "BENCH", "n": i, "note": "x" * 200})
    finally:
        events._relay_soon = relay_soon


def _ours(receiver: _Receiver, n: int) -> float:
    from apps.core.tasks import outbox_relay_task
    from apps.webhooks.models import DeliveryStatus, WebhookDelivery
    from apps.webhooks.services.delivery import http_client

    http_client()  # this thread's client, built as the bare side's is before its clock (no request made)
    receiver.reset()
    start = time.perf_counter()
    outbox_relay_task()  # relays every batch; each batch's deliveries are sent in-process on commit
    elapsed = time.perf_counter() - start
    delivered = WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count()
    if delivered != n or receiver.count != n or len(receiver.ids) != n:
        sys.exit(f"expected {n} deliveries: delivered {delivered}, receiver got {receiver.count} "
                 f"({len(receiver.ids)} distinct events)")
    return elapsed


def _relay_floor(n: int) -> float:
    """The outbox relay alone (no subscription matches): what publishing costs before any webhook work."""
    from django.db import transaction

    from apps.core import events
    from apps.core.events import event_emit
    from apps.core.tasks import outbox_relay_task
    from apps.org.models import LegalEntity

    entity = LegalEntity.objects.get(code="BENCH")
    relay_soon = events._relay_soon
    events._relay_soon = lambda: None
    try:
        for start in range(0, n, 500):
            with transaction.atomic():
                for i in range(start, min(n, start + 500)):
                    event_emit("other.happened", entity, {"entity": "BENCH", "n": i, "note": "x" * 200})
    finally:
        events._relay_soon = relay_soon
    start = time.perf_counter()
    outbox_relay_task()
    return time.perf_counter() - start


def _bare(receiver: _Receiver, n: int) -> float:
    from apps.webhooks.models import WebhookDelivery
    from apps.webhooks.services.delivery import new_http_client

    bodies = [body.encode() for body in WebhookDelivery.objects.order_by("pk").values_list("body", flat=True)]
    receiver.reset()
    with new_http_client() as client:  # the client our deliveries use, configured the same way
        start = time.perf_counter()
        for body in bodies:
            client.post(receiver.url, content=body, headers={"Content-Type": "application/json"}).raise_for_status()
        elapsed = time.perf_counter() - start
    assert receiver.count == n
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    _setup_django()
    from django.conf import settings

    if not settings.CELERY_TASK_ALWAYS_EAGER:
        sys.exit("bench_outbox runs the delivery tasks in-process: set CELERY_TASK_ALWAYS_EAGER=true")
    receiver = _Receiver()
    n = args.events
    _prepare(receiver, n)
    ours = _ours(receiver, n)
    bare = _bare(receiver, n)
    floor = _relay_floor(n)
    print(f"outbox -> webhook, {n} events (relay, delivery rows, signed POSTs, attempts, history)")
    print(f"  ours: {ours:7.2f} s  {n / ours:8.0f} events/s")
    print(f"  bare: {bare:7.2f} s  {n / bare:8.0f} posts/s (httpx.Client loop, same bodies, same receiver)")
    print(f"  (the outbox relay alone, no subscriber matching: {floor:.2f} s, {1000 * floor / n:.2f} ms/event; "
          f"ours per event: {1000 * ours / n:.2f} ms, bare: {1000 * bare / n:.2f} ms)")
    ratio = ours / bare
    print(f"  ratio ours/bare: {ratio:.2f}x (target <= 2x) {'OK' if ratio <= 2 else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
