from datetime import timedelta

from django.utils import timezone

from apps.payments.models import PaymentBatch
from apps.payments.validation import next_business_day


def body(ref="ERP-API-1"):
    day = next_business_day(timezone.localdate() + timedelta(days=3), "EUR")
    return {"entity": "DE01", "debtor_account": "DE89370400440532013000", "requested_execution_date": str(day),
            "erp_reference": ref, "instructions": [
                {"end_to_end_id": "E2E-1", "amount": "1250.00", "currency": "EUR",
                 "creditor": {"name": "Rheinmetall Teile GmbH", "iban": "DE12100700000555444333",
                              "address": {"town": "Berlin", "country": "DE"}},
                 "remittance_information": "INV 1"}]}


def test_post_batch_with_idempotency_key(api_client, make_user, entity_a, account_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = api_client(make_user("ap_clerk", entities=[entity_a]))
    first = client.post("/api/v1/payment-batches/", body(), format="json", HTTP_IDEMPOTENCY_KEY="b1")
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["status"] == "pending_approval" and data["instructions"][0]["amount"] == "1250.00000"
    again = client.post("/api/v1/payment-batches/", body(), format="json", HTTP_IDEMPOTENCY_KEY="b1")
    assert again.status_code == 201 and again.json() == data
    assert PaymentBatch.objects.count() == 1
    no_key = client.post("/api/v1/payment-batches/", body("ERP-API-2"), format="json")
    assert no_key.status_code == 400 and "Idempotency-Key" in no_key.json()["message"]


def test_malformed_and_invalid_batches_get_clear_400s(api_client, make_user, entity_a, account_a):
    client = api_client(make_user("ap_clerk", entities=[entity_a]))
    bad_json = client.post("/api/v1/payment-batches/", data="{nope", content_type="application/json",
                           HTTP_IDEMPOTENCY_KEY="m1")
    assert bad_json.status_code == 400 and "Malformed JSON" in bad_json.json()["message"]
    payload = body()
    payload["instructions"][0]["amount"] = "12.345"
    invalid = client.post("/api/v1/payment-batches/", payload, format="json", HTTP_IDEMPOTENCY_KEY="m2")
    assert invalid.status_code == 400
    assert invalid.json()["message"] == "instructions[0].amount: 12.345 has more decimals than EUR allows (2)."
    assert invalid.json()["extra"]["errors"][0]["field"] == "instructions[0].amount"
    payload = body()
    payload["instructions"][0]["creditor"]["nmae"] = "typo"
    typo = client.post("/api/v1/payment-batches/", payload, format="json", HTTP_IDEMPOTENCY_KEY="m3")
    assert typo.status_code == 400 and "nmae" in typo.json()["message"]
    unknown = client.post("/api/v1/payment-batches/", {**body(), "entity": "ZZ99"}, format="json",
                          HTTP_IDEMPOTENCY_KEY="m4")
    assert unknown.status_code == 400 and unknown.json()["message"].startswith("entity:")
    assert not PaymentBatch.objects.exists()


def test_approve_over_the_api_and_permissions(api_client, make_user, entity_a, account_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    clerk = api_client(make_user("ap_clerk", entities=[entity_a]))
    batch_id = clerk.post("/api/v1/payment-batches/", body(), format="json", HTTP_IDEMPOTENCY_KEY="a1").json()["id"]
    assert clerk.post(f"/api/v1/payment-batches/{batch_id}/approve/", {}, format="json").status_code == 403
    auditor = api_client(make_user("auditor", all_entities=True))
    assert auditor.post(f"/api/v1/payment-batches/{batch_id}/approve/", {}, format="json").status_code == 403
    assert auditor.get(f"/api/v1/payment-batches/{batch_id}/").status_code == 200
    approver = api_client(make_user("approver", entities=[entity_a]))
    response = approver.post(f"/api/v1/payment-batches/{batch_id}/approve/", {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert approver.post(f"/api/v1/payment-batches/{batch_id}/approve/", {}, format="json").status_code == 409
