"""Bulk writes of audited rows: the rows and their history in a few statements.

On PostgreSQL the primary keys are reserved from the table's sequence and both the rows and their history rows are
``COPY``-ed in (no per-row model preparation); an update COPYs the new values into a temporary table and applies them
with one ``UPDATE ... FROM``. Elsewhere ``bulk_create_with_history`` / ``bulk_update_with_history`` do the same job.
Either way every row written has its history record with the acting user and the reason, as a single save would.
"""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history


def _column_values(obj: models.Model, fields) -> list:
    values = []
    for field in fields:
        value = getattr(obj, field.attname)
        if isinstance(field, models.JSONField):
            value = json.dumps(value, cls=DjangoJSONEncoder)
        values.append(value)
    return values


def _stamp(objs: list[models.Model], fields, *, adding: bool) -> None:
    """What save() would do: auto_now (and, when adding, auto_now_add) dates set on the instances."""
    now = timezone.now()
    for field in fields:
        if getattr(field, "auto_now", False) or (adding and getattr(field, "auto_now_add", False)):
            for obj in objs:
                setattr(obj, field.attname, now)


def _copy_history(model: type[models.Model], objs: list[models.Model], *, history_type: str, user, reason: str) -> None:
    history = model.history.model
    fields = {f.attname for f in model._meta.concrete_fields}
    tracked = [f for f in history._meta.concrete_fields if f.attname in fields]
    extra = ["history_date", "history_change_reason", "history_type", "history_user_id"]
    columns = [f.column for f in tracked] + extra
    now = timezone.now()
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(f"COPY {history._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
            for obj in objs:  # an object's own _change_reason (as save() would record it) wins over ``reason``
                copy.write_row([*_column_values(obj, tracked), now, (getattr(obj, "_change_reason", "") or reason)[:100],
                                history_type, user.pk if user else None])


def bulk_insert(model: type[models.Model], objs: list[models.Model]) -> list:
    """Insert ``objs`` (unsaved, without pk), ``COPY`` on PostgreSQL. No history: for rows that have none."""
    if connection.vendor != "postgresql" or not objs:
        return model.objects.bulk_create(objs, batch_size=5000)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    _stamp(objs, fields, adding=True)
    table, pk_column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor, connection.wrap_database_errors:  # COPY errors as Django's (IntegrityError)
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                       [table, pk_column, len(objs)])
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
        columns = [pk_column] + [f.column for f in fields]
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([obj.pk, *_column_values(obj, fields)])
    for obj in objs:
        obj._state.adding = False
    return objs


def bulk_create_audited(model: type[models.Model], objs: list[models.Model], *, actor, reason: str) -> list:
    """Insert ``objs`` (unsaved, without pk) and one creation history row each. Returns the objects with pks."""
    user = actor if getattr(actor, "pk", None) else None
    if connection.vendor != "postgresql" or not objs:
        return bulk_create_with_history(objs, model, batch_size=5000, default_user=user, default_change_reason=reason)
    bulk_insert(model, objs)
    _copy_history(model, objs, history_type="+", user=user, reason=reason)
    return objs


def bulk_update_audited(model: type[models.Model], objs: list[models.Model], fields: list[str], *, actor,
                        reason: str) -> None:
    """Write ``fields`` of ``objs`` (saved rows) and one change history row each."""
    user = actor if getattr(actor, "pk", None) else None
    if not objs:
        return
    meta = model._meta
    names = list(dict.fromkeys([*fields, *(f.name for f in meta.concrete_fields if getattr(f, "auto_now", False))]))
    _stamp(objs, [meta.get_field(n) for n in names], adding=False)
    if connection.vendor != "postgresql":
        bulk_update_with_history(objs, model, names, batch_size=2000, default_user=user,
                                 default_change_reason=reason[:100])
        return
    targets = [meta.get_field(n) for n in names]
    pk = meta.pk
    temp = f"_bulk_{meta.db_table}"[:60]
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.execute(f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {pk.column}, "
                       f"{', '.join(f.column for f in targets)} FROM {meta.db_table} WITH NO DATA")
        with cursor.cursor.copy(f"COPY {temp} ({pk.column}, {', '.join(f.column for f in targets)}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([obj.pk, *_column_values(obj, targets)])
        assignments = ", ".join(f"{f.column} = t.{f.column}" for f in targets)
        cursor.execute(f"UPDATE {meta.db_table} AS m SET {assignments} FROM {temp} AS t "
                       f"WHERE m.{pk.column} = t.{pk.column}")
        cursor.execute(f"DROP TABLE {temp}")
    _copy_history(model, objs, history_type="~", user=user, reason=reason)
