"""History helpers: every audited save names the acting user and the reason (django-simple-history)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models

from apps.core.errors import ValidationFailed


def audited_save(
    obj: models.Model, *, actor, reason: str, update_fields: Iterable[str] | None = None, require_reason: bool = False
) -> None:
    """Save ``obj`` so that its history row records ``actor`` and ``reason``."""
    reason = (reason or "").strip()
    if require_reason and not reason:
        raise ValidationFailed("A reason is required for this change.", {"field": "reason"})
    obj._history_user = actor if getattr(actor, "pk", None) else None
    obj._change_reason = reason[:100]
    if update_fields is not None:
        update_fields = set(update_fields)
        if any(f.name == "updated_at" for f in obj._meta.concrete_fields):
            update_fields.add("updated_at")
        obj.save(update_fields=sorted(update_fields))
    else:
        obj.save()
