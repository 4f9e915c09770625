"""Roles are Django groups with model permissions. Each app declares what its roles may do (in ready());
``roles_sync`` makes the groups match. Entity access is never a role permission: it is granted per object."""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth.models import Group, Permission
from django.db import transaction

AP_CLERK = "ap_clerk"
TREASURY = "treasury"
APPROVER = "approver"
AUDITOR = "auditor"
ADMIN = "admin"
ROLES = {
    AP_CLERK: "AP clerk: works exception queues, retries and resolves",
    TREASURY: "Treasury: bank accounts, statements, payments and cash",
    APPROVER: "Approver: releases payment batches (never their own)",
    AUDITOR: "Auditor: reads everything, including history and raw files; changes nothing",
    ADMIN: "Admin: configuration of entities, banks, connections and rules",
}

_declared: dict[str, set[str]] = defaultdict(set)


def register_role_permissions(mapping: dict[str, list[str]]) -> None:
    """Declare ``{role: ["app_label.codename", ...]}``; called by each app's AppConfig.ready()."""
    for role, perms in mapping.items():
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        _declared[role].update(perms)


def declared_permissions(role: str) -> set[str]:
    return set(_declared.get(role, ()))


@transaction.atomic
def roles_sync() -> dict[str, int]:
    """Create the role groups and set exactly the declared permissions on each. Safe to run any time."""
    counts = {}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        wanted = declared_permissions(role)
        perms = []
        for dotted in sorted(wanted):
            app_label, codename = dotted.split(".", 1)
            try:
                perms.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
            except Permission.DoesNotExist:
                raise LookupError(f"role {role}: permission {dotted} does not exist") from None
        group.permissions.set(perms)
        counts[role] = len(perms)
    return counts


def sync_after_migrate(sender, app_config=None, using="default", **kwargs) -> None:
    # Run once, after the last app has migrated (permissions of every app exist by then).
    from django.apps import apps

    if app_config is None or app_config.label != list(apps.get_app_configs())[-1].label:
        return
    roles_sync()


def user_roles(user) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_finops_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._finops_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles)) or bool(getattr(user, "is_superuser", False))
