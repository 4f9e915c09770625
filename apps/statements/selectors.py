"""Reads for statements, filtered by the bank accounts the user may see."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.org.selectors import bank_account_list, sees_all_entities
from apps.statements.models import CashPosition, CsvMapping, ImportRun, Statement, StatementEntry


def statement_list(*, user) -> QuerySet[Statement]:
    if not user.has_perm("statements.view_statement"):
        return Statement.objects.none()
    return Statement.objects.select_related("bank_account__entity", "raw_document").filter(
        bank_account__in=bank_account_list(user=user).values("pk")
    )


def entry_list(*, user) -> QuerySet[StatementEntry]:
    if not user.has_perm("statements.view_statemententry"):
        return StatementEntry.objects.none()
    return StatementEntry.objects.select_related("bank_account").filter(
        bank_account__in=bank_account_list(user=user).values("pk")
    )


def import_run_list(*, user) -> QuerySet[ImportRun]:
    """Runs the user started, runs that touched the user's accounts; every run for users who see everything."""
    if not user.has_perm("statements.view_importrun"):
        return ImportRun.objects.none()
    qs = ImportRun.objects.select_related("raw_document", "created_by")
    if sees_all_entities(user):
        return qs
    accounts = bank_account_list(user=user).values("pk")
    return qs.filter(Q(created_by=user) | Q(statements__bank_account__in=accounts)).distinct()


def cash_position_list(*, user) -> QuerySet[CashPosition]:
    if not user.has_perm("statements.view_cashposition"):
        return CashPosition.objects.none()
    return CashPosition.objects.select_related("bank_account__entity").filter(
        bank_account__in=bank_account_list(user=user).values("pk")
    )


def csv_mapping_list(*, user) -> QuerySet[CsvMapping]:
    return CsvMapping.objects.select_related("bank_partner") if user.has_perm("statements.view_csvmapping") \
        else CsvMapping.objects.none()
