"""Races on PostgreSQL: real threads, real commits."""

import threading

import pytest
from django.db import connection

from apps.exceptions.models import ExceptionCase
from apps.exceptions.services import case_open


@pytest.mark.django_db(transaction=True)
def test_concurrent_case_open_for_the_same_subject_gives_one_case(entity_a, account_a):
    barrier = threading.Barrier(8)
    errors = []

    def report(n):
        try:
            barrier.wait()
            case_open(kind="statement.unbalanced", subject=account_a, legal_entity=entity_a,
                      message=f"report {n}")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=report, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    case = ExceptionCase.objects.get()
    assert case.occurrences == 8
    assert case.occurrence_log.count() == 7
