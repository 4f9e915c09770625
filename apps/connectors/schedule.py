"""Connection schedules live in django-celery-beat (the one place periodic work is defined and edited):
one PeriodicTask per connection and scheduled operation, named ``connection:<code>:<operation>``."""

from __future__ import annotations

import json
import re

from django.db import transaction

from apps.connectors.interfaces import DEFAULT_SCHEDULED, RUNNABLE_OPERATIONS
from apps.connectors.models import Connection
from apps.core.errors import ValidationFailed

TASK = "apps.connectors.tasks.connection_operation_task"
_CRON_FIELD = re.compile(r"^[\d*/,\-]+$")


def parse_schedule(text: str) -> tuple[str, object] | None:
    """``""`` -> None; ``"300"`` / ``"every 300"`` / ``"300s"`` -> ("interval", seconds); five cron fields -> ("cron", fields)."""
    text = (text or "").strip()
    if not text:
        return None
    match = re.fullmatch(r"(?:every\s+)?(\d+)\s*s?", text, re.I)
    if match:
        seconds = int(match.group(1))
        if seconds < 10:
            raise ValidationFailed("schedule: an interval must be at least 10 seconds.", {"field": "schedule"})
        return "interval", seconds
    fields = text.split()
    if len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields):
        return "cron", fields
    raise ValidationFailed(
        f"schedule: {text!r} is neither an interval in seconds (300) nor a cron line (*/5 * * * *).",
        {"field": "schedule"},
    )


def scheduled_operations(conn: Connection) -> list[str]:
    wanted = (conn.options or {}).get("scheduled_operations") or DEFAULT_SCHEDULED.get(conn.partner_kind, ())
    allowed = RUNNABLE_OPERATIONS.get(conn.partner_kind, ())
    return [op for op in wanted if op in allowed]


@transaction.atomic
def connection_schedule_sync(*, connection_id: int) -> int:
    """Make the beat entries match the connection's schedule (none when it is disabled). Returns how many exist."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    conn = Connection.objects.filter(pk=connection_id).first()
    prefix = f"connection:{conn.code}:" if conn else None
    if conn is None:
        return 0
    parsed = parse_schedule(conn.schedule) if conn.active else None
    keep: set[str] = set()
    if parsed is not None:
        kind, value = parsed
        schedule_kwargs: dict = {}
        if kind == "interval":
            interval, _ = IntervalSchedule.objects.get_or_create(every=value, period=IntervalSchedule.SECONDS)
            schedule_kwargs = {"interval": interval, "crontab": None}
        else:
            minute, hour, dom, month, dow = value
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow,
            )
            schedule_kwargs = {"crontab": crontab, "interval": None}
        for operation in scheduled_operations(conn):
            name = f"{prefix}{operation}"
            keep.add(name)
            PeriodicTask.objects.update_or_create(
                name=name,
                defaults={"task": TASK, "args": json.dumps([conn.pk, operation]), "queue": "connectors",
                          "enabled": True, **schedule_kwargs},
            )
    PeriodicTask.objects.filter(name__startswith=prefix).exclude(name__in=keep).delete()
    return len(keep)
