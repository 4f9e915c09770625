"""Celery for real: tasks travel through Redis to a worker, and a task killed mid-run is delivered again."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import transaction

ROOT = Path(__file__).resolve().parents[2]
PROBE_REDIS = "redis://127.0.0.1:6379/15"


def _redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture
def broker():
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL); make test provides it")
    client = redis.Redis.from_url(PROBE_REDIS)
    client.flushdb()
    yield client
    client.flushdb()


def _wait(predicate, timeout=60.0, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


@pytest.mark.django_db(transaction=True)
def test_outbox_relay_task_runs_on_a_real_worker_through_redis(broker, entity_a):
    """celery.contrib.testing: an embedded worker consumes outbox_relay_task from Redis and publishes events."""
    from celery.contrib.testing.worker import start_worker

    from apps.core.events import event_emit
    from apps.core.models import Event
    from apps.core.tasks import outbox_relay_task
    from finops.celery import app

    queue = f"test-events-{uuid.uuid4().hex[:8]}"
    previous = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = PROBE_REDIS  # (CELERY_BROKER_URL in the environment, when set, wins: Redis either way)
    try:
        with transaction.atomic():
            event = event_emit("test.worker", entity_a, {"n": 1})
        Event.objects.filter(pk=event.pk).update(published_at=None)
        with start_worker(app, pool="solo", queues=[queue], perform_ping_check=False, shutdown_timeout=10):
            outbox_relay_task.apply_async(queue=queue)
            assert _wait(lambda: Event.objects.filter(pk=event.pk, published_at__isnull=False).exists())
    finally:
        app.conf.task_always_eager, app.conf.broker_url = previous


def test_task_killed_mid_run_is_redelivered_and_completes_once(broker, tmp_path, monkeypatch):
    """A real prefork worker (subprocess): the pool process running the task is killed with SIGKILL; with
    acks_late and reject_on_worker_lost the message goes back to Redis, runs again, and completes once."""
    from celery import Celery

    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery prefers it over the app's own broker URL
    queue = f"test-kill-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "FINOPS_ENV": "test",
        "CELERY_BROKER_URL": PROBE_REDIS,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONPATH": str(ROOT),
        "DJANGO_ALLOW_ASYNC_UNSAFE": "",
    }
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "finops", "worker", "--pool", "prefork", "--concurrency", "1",
         "-Q", queue, "--include", "tests.backbone.probe_tasks", "--without-heartbeat", "--without-gossip",
         "--without-mingle", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        assert _wait(lambda: "ready." in log.read_text(), timeout=60), log.read_text()[-3000:]
        sender = Celery(broker=PROBE_REDIS)
        key = f"probe-{uuid.uuid4().hex[:8]}"
        sender.send_task("tests.probe.slow_once", args=[key], queue=queue)
        assert _wait(lambda: broker.get(f"{key}:pid") is not None, timeout=90), log.read_text()[-3000:]
        first_pid = int(broker.get(f"{key}:pid"))
        os.kill(first_pid, signal.SIGKILL)  # the pool process dies mid-task
        assert _wait(lambda: broker.get(f"{key}:completions") is not None, timeout=90), log.read_text()[-3000:]
        time.sleep(1)
        assert int(broker.get(f"{key}:starts")) == 2
        assert int(broker.get(f"{key}:completions")) == 1
        assert int(broker.get(f"{key}:pid")) != first_pid
        assert "WorkerLostError" in log.read_text() or "Worker exited prematurely" in log.read_text()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
