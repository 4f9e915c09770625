import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.exceptions.models import CaseStatus


@pytest.fixture
def cases(open_case, entity_a, entity_b, account_a, account_b):
    return {
        "a_unbalanced": open_case(account_a, entity=entity_a, amount="250.00", currency="EUR"),
        "a_rejected": open_case(account_a, kind="payment.rejected_by_bank", entity=entity_a, amount="12500.00",
                                currency="EUR", message="AC04 closed account"),
        "b_gap": open_case(account_b, kind="statement.gap", entity=entity_b),
        "no_entity": open_case(entity_a.bank_accounts.first().bank, kind="connector.unavailable"),
    }


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_every_api_call_needs_authentication(cases):
    client = APIClient()
    for url in ["/api/v1/cases/", f"/api/v1/cases/{cases['a_unbalanced'].pk}/", "/api/v1/entities/"]:
        response = client.get(url)
        assert response.status_code in (401, 403)
        assert set(response.json()) == {"message", "extra"}
    response = client.post(f"/api/v1/cases/{cases['a_unbalanced'].pk}/resolve/", {"reason": "x"}, format="json")
    assert response.status_code in (401, 403)


def test_token_authentication_works(make_user, entity_a, cases):
    clerk = make_user("ap_clerk", entities=[entity_a])
    token = Token.objects.create(user=clerk)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert ids(client.get("/api/v1/cases/")) == {cases["a_unbalanced"].pk, cases["a_rejected"].pk,
                                                   cases["no_entity"].pk}


def test_clerk_of_entity_a_sees_nothing_of_entity_b(api_client, make_user, entity_a, entity_b, cases):
    client = api_client(make_user("ap_clerk", entities=[entity_a]))
    listed = ids(client.get("/api/v1/cases/"))
    assert cases["b_gap"].pk not in listed
    assert client.get(f"/api/v1/cases/{cases['b_gap'].pk}/").status_code == 404
    assert client.get(f"/api/v1/cases/{cases['b_gap'].pk}/history/").status_code == 404
    response = client.post(f"/api/v1/cases/{cases['b_gap'].pk}/resolve/", {"reason": "x"}, format="json")
    assert response.status_code == 404
    cases["b_gap"].refresh_from_db()
    assert cases["b_gap"].status == CaseStatus.OPEN
    assert [e["code"] for e in client.get("/api/v1/entities/").json()["results"]] == ["DE01"]
    accounts = client.get("/api/v1/bank-accounts/").json()["results"]
    assert [a["entity"] for a in accounts] == ["DE01"]
    hidden = client.get("/api/v1/cases/?entity=US01")  # an entity you may not see is no valid choice
    assert hidden.status_code == 400 and hidden.json()["message"].startswith("entity:")


def test_role_group_permission_alone_opens_no_entity(api_client, make_user, cases):
    clerk_without_grants = make_user("ap_clerk")
    assert ids(api_client(clerk_without_grants).get("/api/v1/cases/")) == {cases["no_entity"].pk}
    assert api_client(clerk_without_grants).get("/api/v1/entities/").json()["results"] == []


def test_filters(api_client, make_user, cases):
    client = api_client(make_user("treasury", all_entities=True))
    assert ids(client.get("/api/v1/cases/?kind=payment.rejected_by_bank")) == {cases["a_rejected"].pk}
    assert ids(client.get("/api/v1/cases/?entity=US01")) == {cases["b_gap"].pk}
    assert ids(client.get("/api/v1/cases/?q=AC04")) == {cases["a_rejected"].pk}
    assert ids(client.get("/api/v1/cases/?severity=critical")) == {cases["no_entity"].pk}
    assert ids(client.get("/api/v1/cases/?overdue=true")) == set()
    assert len(ids(client.get("/api/v1/cases/?status=open"))) == 4
    assert ids(client.get("/api/v1/cases/?status=resolved")) == set()
    response = client.get("/api/v1/cases/?status=nonsense")
    assert response.status_code == 400 and "status" in response.json()["message"]


def test_actions_and_errors(api_client, make_user, entity_a, cases):
    clerk = make_user("ap_clerk", entities=[entity_a], username="clara")
    client = api_client(clerk)
    pk = cases["a_rejected"].pk
    response = client.post(f"/api/v1/cases/{pk}/assign/", {"assignee": "clara"}, format="json")
    assert response.status_code == 200 and response.json()["assignee"] == "clara"
    response = client.post(f"/api/v1/cases/{pk}/resolve/", {}, format="json")
    assert response.status_code == 400 and response.json()["message"] == "reason: This field is required."
    response = client.post(f"/api/v1/cases/{pk}/resolve/", {"reason": "x", "resolutoin": "fixed"}, format="json")
    assert response.status_code == 400 and "resolutoin" in response.json()["message"]
    response = client.post(f"/api/v1/cases/{pk}/resolve/", data="{bad json", content_type="application/json")
    assert response.status_code == 400 and "Malformed JSON" in response.json()["message"]
    response = client.post(f"/api/v1/cases/{pk}/retry/", {}, format="json")
    assert response.status_code == 400 and "cannot be retried" in response.json()["message"]
    response = client.post(f"/api/v1/cases/{pk}/resolve/", {"reason": "vendor confirmed new IBAN"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "resolved"
    response = client.post(f"/api/v1/cases/{pk}/dismiss/", {"reason": "again"}, format="json")
    assert response.status_code == 409 and "cannot go from resolved to dismissed" in response.json()["message"]


def test_auditor_reads_everything_including_history_and_changes_nothing(api_client, make_user, entity_a, cases):
    clerk = make_user("ap_clerk", entities=[entity_a], username="clara")
    api_client(clerk).post(f"/api/v1/cases/{cases['a_unbalanced'].pk}/resolve/",
                           {"reason": "bank corrected it"}, format="json")
    auditor = api_client(make_user("auditor", all_entities=True))
    assert len(ids(auditor.get("/api/v1/cases/?status=resolved&status=open"))) == 4
    history = auditor.get(f"/api/v1/cases/{cases['a_unbalanced'].pk}/history/").json()
    assert history[0]["who"] == "clara" and history[0]["reason"] == "bank corrected it"
    assert history[0]["status"] == "resolved"
    for action, body in [("assign", {"assignee": None}), ("start", {}), ("retry", {}), ("resolve", {"reason": "x"}),
                         ("dismiss", {"reason": "x"})]:
        response = auditor.post(f"/api/v1/cases/{cases['a_rejected'].pk}/{action}/", body, format="json")
        assert response.status_code == 403, action
    cases["a_rejected"].refresh_from_db()
    assert cases["a_rejected"].status == CaseStatus.OPEN and cases["a_rejected"].history.count() == 1


def test_approver_cannot_read_history_without_permission_but_can_list(api_client, make_user, cases):
    approver = api_client(make_user("approver", all_entities=True))
    assert len(ids(approver.get("/api/v1/cases/"))) == 4
    assert approver.get(f"/api/v1/cases/{cases['a_rejected'].pk}/history/").status_code == 200


def test_schema_and_docs_are_served(api_client, make_user):
    client = api_client(make_user("auditor", all_entities=True))
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    assert "/api/v1/cases/{id}/resolve/" in schema.json()["paths"]
    assert client.get("/api/docs/").status_code == 200
