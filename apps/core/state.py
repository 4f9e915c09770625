"""State machines: one table of allowed transitions per model, and ``move`` as the only writer of a status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import models

from apps.core.audit import audited_save
from apps.core.errors import TransitionNotAllowed, ValidationFailed


@dataclass(frozen=True)
class StateMachine:
    transitions: Mapping[str, frozenset[str]]
    reason_required: frozenset[str] = field(default_factory=frozenset)
    field_name: str = "status"

    def allowed(self, current: str, target: str) -> bool:
        return target in self.transitions.get(current, frozenset())

    def move(
        self, obj: models.Model, *, to: str, actor, reason: str = "", also: Iterable[str] = ()
    ) -> None:
        """Change ``obj``'s status to ``to`` if the table allows it, saving ``also`` fields with it."""
        current = getattr(obj, self.field_name)
        if not self.allowed(current, to):
            raise TransitionNotAllowed(
                f"{obj._meta.verbose_name} cannot go from {current} to {to}.",
                {"from": current, "to": to},
            )
        if to in self.reason_required and not (reason or "").strip():
            raise ValidationFailed(f"A reason is required to move to {to}.", {"field": "reason"})
        setattr(obj, self.field_name, to)
        audited_save(obj, actor=actor, reason=reason, update_fields={self.field_name, *also})

    def move_many(self, objs: list[models.Model], *, to: str, actor, reason: str = "", also: Iterable[str] = (),
                  reasons: list[str] | None = None) -> None:
        """``move`` for many objects of one model at once: a few statements and one history row each. ``reasons``
        (one per object) records a reason of its own for each."""
        if not objs:
            return
        own_reasons = reasons if reasons is not None else [reason] * len(objs)
        for obj, own in zip(objs, own_reasons, strict=True):
            obj._change_reason = own[:100]
        reason = reason or "; ".join(sorted(set(own_reasons)))[:100]
        from apps.core.bulk import bulk_update_audited

        for obj in objs:
            current = getattr(obj, self.field_name)
            if not self.allowed(current, to):
                raise TransitionNotAllowed(
                    f"{obj._meta.verbose_name} {obj.pk} cannot go from {current} to {to}.", {"from": current, "to": to})
        if to in self.reason_required and not (reason or "").strip():
            raise ValidationFailed(f"A reason is required to move to {to}.", {"field": "reason"})
        for obj in objs:
            setattr(obj, self.field_name, to)
        bulk_update_audited(type(objs[0]), objs, [self.field_name, *also], actor=actor, reason=reason)


def machine(table: Mapping[str, Iterable[str]], *, reason_required: Iterable[str] = ()) -> StateMachine:
    return StateMachine({k: frozenset(v) for k, v in table.items()}, frozenset(reason_required))
