"""Console pages through Django's test client (the browser tests in tests/e2e drive the same pages)."""

import pytest
from django.test import Client

from apps.exceptions.models import CaseStatus


@pytest.fixture
def cases(open_case, entity_a, entity_b, account_a, account_b):
    return {
        "a": open_case(account_a, entity=entity_a, amount="250.00", currency="EUR", message="off by 250.00"),
        "b": open_case(account_b, kind="statement.gap", entity=entity_b, message="US statement missing"),
    }


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_users_are_sent_to_login(db):
    for url in ["/", "/cases/", "/cases/1/"]:
        response = Client().get(url)
        assert response.status_code == 302 and response.url.startswith("/login/")


def test_home_shows_live_counts_for_the_users_entities(make_user, entity_a, cases):
    client = login(make_user("ap_clerk", entities=[entity_a]))
    page = client.get("/").content.decode()
    assert 'data-testid="count-total">1<' in page
    assert 'data-testid="count-statement.unbalanced">1<' in page
    partial = client.get("/home/counts/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and 'data-testid="count-total">1<' in partial


def test_queue_filters_and_entity_isolation(make_user, entity_a, cases):
    client = login(make_user("ap_clerk", entities=[entity_a]))
    page = client.get("/cases/").content.decode()
    assert f'data-case="{cases["a"].pk}"' in page and f'data-case="{cases["b"].pk}"' not in page
    assert "US statement missing" not in page
    assert client.get(f"/cases/{cases['b'].pk}/").status_code == 404
    assert client.post(f"/cases/{cases['b'].pk}/act/", {"action": "resolve", "reason": "x"}).status_code == 404
    filtered = client.get("/cases/?kind=statement.gap", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="queue")
    assert "No cases match" in filtered.content.decode() and "<html" not in filtered.content.decode()


def test_htmx_resolve_replaces_the_row_and_requires_a_reason(make_user, entity_a, cases):
    clerk = make_user("ap_clerk", entities=[entity_a], username="clara")
    client = login(clerk)
    url = f"/cases/{cases['a'].pk}/act/"
    missing = client.post(url, {"action": "resolve", "reason": ""}, HTTP_HX_REQUEST="true").content.decode()
    assert "A reason is required" in missing and 'data-testid="case-row"' in missing
    cases["a"].refresh_from_db()
    assert cases["a"].status == CaseStatus.OPEN
    assigned = client.post(url, {"action": "assign_me"}, HTTP_HX_REQUEST="true").content.decode()
    assert '<td data-testid="assignee">clara</td>' in assigned
    done = client.post(url, {"action": "resolve", "reason": "bank fixed it"}, HTTP_HX_REQUEST="true")
    assert 'data-testid="case-closed"' in done.content.decode()
    cases["a"].refresh_from_db()
    assert cases["a"].status == CaseStatus.RESOLVED and cases["a"].resolution_note == "bank fixed it"
    assert f'data-case="{cases["a"].pk}"' not in client.get("/cases/").content.decode()


def test_bulk_assign(make_user, entity_a, open_case, account_a):
    clerk = make_user("ap_clerk", entities=[entity_a], username="clara")
    first = open_case(account_a, entity=entity_a)
    second = open_case(account_a, kind="statement.gap", entity=entity_a)
    response = login(clerk).post("/cases/bulk/", {"action": "assign_me", "case": [first.pk, second.pk]},
                                 HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.assignee == clerk and second.assignee == clerk


def test_auditor_sees_history_and_raw_document_but_cannot_act(make_user, entity_a, open_case, tmp_path, settings):
    from apps.core.services import document_store

    settings.MEDIA_ROOT = tmp_path
    doc, _ = document_store(content=b"<broken", source="bank:DEUT", media_type="application/xml",
                            filename="stmt.xml")
    case = open_case(doc, kind="statement.rejected", entity=entity_a, raw_document=doc)
    clerk = make_user("ap_clerk", entities=[entity_a], username="clara")
    login(clerk).post(f"/cases/{case.pk}/act/", {"action": "start", "reason": "checking"})
    auditor = login(make_user("auditor", all_entities=True))
    page = auditor.get(f"/cases/{case.pk}/").content.decode()
    assert 'data-testid="timeline"' in page and "clara" in page and "checking" in page
    assert 'data-testid="case-actions"' not in page
    download = auditor.get(f"/cases/{case.pk}/document/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"<broken"
    assert auditor.post(f"/cases/{case.pk}/act/", {"action": "resolve", "reason": "x"}).status_code == 403
    assert auditor.post("/cases/bulk/", {"action": "assign_me", "case": [case.pk]}).status_code == 403
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    # The clerk may see the case but not download the raw file (no download permission).
    assert login(clerk).get(f"/cases/{case.pk}/document/").status_code == 403


def test_django_admin_is_for_the_admin_role_only(make_user):
    for role in ("ap_clerk", "treasury", "approver", "auditor"):
        user = make_user(role)
        user.is_staff = True
        user.save()
        assert login(user).get("/admin/").status_code == 302
    admin = login(make_user("admin"))
    assert admin.get("/admin/").status_code == 200
    assert admin.get("/admin/org/legalentity/").status_code == 200


def test_unknown_page_is_a_plain_404(db):
    response = Client().get("/no/such/page/")
    assert response.status_code == 404 and "Traceback" not in response.content.decode()
