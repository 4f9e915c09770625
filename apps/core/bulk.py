"""Bulk writes of audited rows: the rows and their creation history in a few statements.

On PostgreSQL the primary keys are reserved from the table's sequence and both the rows and their history rows are
``COPY``-ed in (no per-row model preparation); elsewhere ``bulk_create_with_history`` does the same job. Either
way every created row has its "+" history record with the acting user and the reason, as a single save would.
"""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.utils import timezone
from simple_history.utils import bulk_create_with_history


def _column_values(obj: models.Model, fields) -> list:
    values = []
    for field in fields:
        value = getattr(obj, field.attname)
        if isinstance(field, models.JSONField):
            value = json.dumps(value, cls=DjangoJSONEncoder)
        values.append(value)
    return values


def bulk_create_audited(model: type[models.Model], objs: list[models.Model], *, actor, reason: str) -> list:
    """Insert ``objs`` (unsaved, without pk) and one creation history row each. Returns the objects with pks."""
    user = actor if getattr(actor, "pk", None) else None
    if connection.vendor != "postgresql" or not objs:
        return bulk_create_with_history(objs, model, batch_size=5000, default_user=user, default_change_reason=reason)
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    for obj in objs:
        for field in fields:  # what save() would do: auto_now(_add) dates and defaults already set on the instance
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                setattr(obj, field.attname, now)
    table = model._meta.db_table
    pk_column = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [table, pk_column, len(objs)])
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
        columns = [pk_column] + [f.column for f in fields]
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([obj.pk, *_column_values(obj, fields)])
        history = model.history.model
        tracked = [f for f in history._meta.concrete_fields if f.attname in {g.attname for g in fields} | {"id"}]
        extra = ["history_date", "history_change_reason", "history_type", "history_user_id"]
        hcols = [f.column for f in tracked] + extra
        with cursor.cursor.copy(f"COPY {history._meta.db_table} ({', '.join(hcols)}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([*_column_values(obj, tracked), now, reason[:100], "+",
                                user.pk if user else None])
    for obj in objs:
        obj._state.adding = False
    return objs
