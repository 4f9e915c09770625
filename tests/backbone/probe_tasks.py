"""Tasks for the worker tests only (the worker subprocess loads them with --include)."""

import os
import time

import redis
from celery import shared_task

REDIS = os.environ.get("FINOPS_PROBE_REDIS", "redis://127.0.0.1:6379/15")


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, name="tests.probe.slow_once")
def slow_once(self, key: str) -> None:
    """First run: note the pid and hang (to be killed). A later run completes: one completion in all."""
    r = redis.Redis.from_url(REDIS)
    starts = r.incr(f"{key}:starts")
    r.set(f"{key}:pid", os.getpid())
    if starts == 1:
        time.sleep(120)
    if r.set(f"{key}:done", self.request.id, nx=True):  # the effect happens once, whatever the deliveries
        r.incr(f"{key}:completions")
