"""The console pages of payments out, through Django's test client: who may see what, entity isolation, approve /
reject / cancel and flag clearing through the pages (refusals shown inline), and the approvals inbox."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.core.models import Event
from apps.org.models import Counterparty
from apps.org.services import counterparty_upsert
from apps.payments import services
from apps.payments.models import Approval, ApprovalRule, BatchStatus, InstructionStatus, PaymentFile, PaymentFlag
from apps.payments.validation import next_business_day

pytestmark = pytest.mark.django_db

VENDOR_IBAN = "DE12100700000555444333"
OTHER_IBAN = "DE32200411110123123123"
READERS = ["ap_clerk", "treasury", "approver", "auditor", "admin"]


def execution_day():
    return next_business_day(timezone.localdate() + timedelta(days=3), "EUR")


def payload(ref="ERP-1", instructions=None):
    return {
        "entity": "DE01", "debtor_account": "DE89370400440532013000", "requested_execution_date": execution_day(),
        "erp_reference": ref,
        "instructions": instructions or [
            {"end_to_end_id": "E2E-1", "amount": "1250.00", "currency": "EUR",
             "creditor": {"name": "Rheinmetall Teile GmbH", "iban": VENDOR_IBAN}, "remittance_information": "INV 1"},
            {"end_to_end_id": "E2E-2", "amount": "80.50", "currency": "EUR",
             "creditor": {"name": "Nordlicht Logistik AG", "iban": OTHER_IBAN}, "remittance_information": "INV 2"},
        ],
    }


@pytest.fixture
def people(account_a, entity_a, make_user):
    return {
        "clerk": make_user("ap_clerk", entities=[entity_a], username="clara"),
        "approver": make_user("approver", entities=[entity_a], username="anna"),
        "approver2": make_user("approver", entities=[entity_a], username="bert"),
        "treasury": make_user("treasury", entities=[entity_a], username="tom"),
    }


@pytest.fixture
def batch(people):
    return services.payment_batch_receive(data=payload(), actor=people["clerk"])


def with_role(user, role):
    user.groups.add(Group.objects.get(name=role))
    return get_user_model().objects.get(pk=user.pk)  # fresh: no cached permissions


def act(client, batch, action, reason="", **extra):
    return client.post(f"/payments/{batch.pk}/act/", {"action": action, "reason": reason, **extra},
                       HTTP_HX_REQUEST="true", HTTP_HX_TARGET="batch")


def bank_details_changed_batch(people, ref="ERP-BANK"):
    counterparty_upsert(entity_code="DE01", kind="vendor", code="V-1", name="Rheinmetall", iban=VENDOR_IBAN)
    Counterparty.objects.filter(code="V-1").update(created_at=timezone.now() - timedelta(days=90))  # a known vendor
    counterparty_upsert(entity_code="DE01", kind="vendor", code="V-1", name="Rheinmetall", iban=OTHER_IBAN,
                        reason="vendor letter of 2 Nov")
    return services.payment_batch_receive(data=payload(ref, instructions=[
        {"end_to_end_id": "E1", "amount": "9000.00", "currency": "EUR",
         "creditor": {"name": "Rheinmetall", "iban": OTHER_IBAN, "counterparty_ref": "V-1"}}]), actor=people["clerk"])


# --- who sees what -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", READERS)
def test_pages_render_for_every_reading_role(client, make_user, entity_a, batch, role):
    client.force_login(make_user(role, entities=[entity_a]))
    listing = client.get("/payments/")
    assert listing.status_code == 200
    assert "ERP-1" in listing.content.decode() and "1,330.50 EUR" in listing.content.decode()
    detail = client.get(f"/payments/{batch.pk}/")
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "E2E-1" in body and "Rheinmetall Teile GmbH" in body and "DEUTDEBBXXX" in body
    assert 'data-testid="timeline"' in body and "needs 1 approval(s)" in body
    inbox = client.get("/payments/approvals/")
    assert inbox.status_code == (200 if role == "approver" else 403)
    assert ('data-testid="approve"' in body) == (role == "approver")


def test_batches_of_another_entity_are_not_found(client, make_user, entity_b, batch, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    outsider = make_user("approver", entities=[entity_b])
    outsider = with_role(outsider, "treasury")
    client.force_login(outsider)
    assert "ERP-1" not in client.get("/payments/").content.decode()
    assert client.get(f"/payments/{batch.pk}/").status_code == 404
    assert act(client, batch, "approve").status_code == 404
    assert "ERP-1" not in client.get("/payments/approvals/").content.decode()
    flag = PaymentFlag.objects.create(instruction=batch.instructions.first(), kind="duplicate", message="x")
    assert client.post(f"/payments/flags/{flag.pk}/clear/", {"reason": "fine"}).status_code == 404
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PENDING_APPROVAL and not batch.approvals.exists()
    assert flag.__class__.objects.get(pk=flag.pk).cleared_at is None


def test_list_filters_sorts_and_returns_a_partial_for_htmx(client, people, batch):
    held = bank_details_changed_batch(people, ref="ERP-2")
    client.force_login(people["approver"])
    page = client.get("/payments/", {"flagged": "true"}).content.decode()
    assert "ERP-2" in page and ">ERP-1<" not in page
    page = client.get("/payments/", {"min_amount": "5000", "sort": "-amount"}).content.decode()
    assert "ERP-2" in page and ">ERP-1<" not in page
    page = client.get("/payments/", {"status": ["pending_approval", "approved"], "entity": "DE01"}).content.decode()
    assert "ERP-1" in page and "ERP-2" in page
    assert "2 batches" in page
    partial = client.get("/payments/", {"status": "rejected"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="batches")
    assert "<html" not in partial.content.decode() and "No payment batches match" in partial.content.decode()
    bad = client.get("/payments/", {"date_from": "not-a-date"}).content.decode()
    assert "date_from:" in bad and "ERP-1" not in bad
    rows = client.get("/payments/", {"sort": "amount"}).content.decode()
    assert rows.index("ERP-1") < rows.index("ERP-2")
    assert held.status == BatchStatus.PENDING_APPROVAL


# --- actions -----------------------------------------------------------------------------------------------------

def test_approver_approves_through_the_page(client, people, batch):
    client.force_login(people["approver"])
    response = act(client, batch, "approve")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and "Your approval is recorded: batch ERP-1 is approved." in body
    batch.refresh_from_db()
    assert batch.status == BatchStatus.APPROVED
    assert list(batch.approvals.values_list("approver__username", flat=True)) == ["anna"]
    assert Event.objects.filter(type="payment_batch.approved").count() == 1


def test_the_maker_sees_the_maker_checker_refusal_inline(client, people, batch):
    maker = with_role(people["clerk"], "approver")
    client.force_login(maker)
    detail = client.get(f"/payments/{batch.pk}/").content.decode()
    assert "You cannot approve this batch: you submitted this batch." in detail
    response = act(client, batch, "approve")
    assert response.status_code == 200
    assert ("You created or last changed this batch: someone else must approve it (maker-checker)."
            in response.content.decode())
    assert 'data-testid="action-error"' in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PENDING_APPROVAL and not batch.approvals.exists()


def test_a_clerk_cannot_approve_at_all(client, people, batch):
    client.force_login(people["clerk"])
    assert 'data-testid="approve"' not in client.get(f"/payments/{batch.pk}/").content.decode()
    assert act(client, batch, "approve").status_code == 403
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PENDING_APPROVAL


def test_reject_needs_a_reason(client, people, batch):
    client.force_login(people["approver"])
    response = act(client, batch, "reject", reason="   ")
    assert "Say why you reject this batch: a reason is required." in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PENDING_APPROVAL
    response = act(client, batch, "reject", reason="wrong debtor account")
    assert "Batch rejected: batch ERP-1 is rejected." in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.REJECTED
    assert batch.history.first().history_change_reason == "wrong debtor account"


def test_treasury_cancels_with_a_reason_and_a_refused_transition_is_shown(client, people, batch):
    client.force_login(people["treasury"])
    response = act(client, batch, "cancel", reason="paid by cheque instead")
    assert "Batch cancelled" in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CANCELLED
    again = client.post(f"/payments/{batch.pk}/act/", {"action": "cancel", "reason": "again"})  # no htmx
    assert again.status_code == 302
    follow = client.get(again["Location"]).content.decode()
    assert "cannot go from cancelled to cancelled" in follow


def test_flag_clear_by_treasury_releases_the_instruction(client, people):
    batch = bank_details_changed_batch(people)
    instruction = batch.instructions.get()
    flag = instruction.flags.get(kind="bank_details_changed")
    assert instruction.status == InstructionStatus.HELD
    url = f"/payments/flags/{flag.pk}/clear/"
    client.force_login(people["approver"])
    detail = client.get(f"/payments/{batch.pk}/").content.decode()
    assert "Treasury clears this after confirming" in detail and 'data-testid="flag-clear"' not in detail
    refused = client.post(url, {"reason": "looks fine"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="batch")
    assert "Changed bank details are cleared by treasury" in refused.content.decode()
    client.force_login(people["treasury"])
    assert 'data-testid="flag-clear"' in client.get(f"/payments/{batch.pk}/").content.decode()
    empty = client.post(url, {"reason": ""}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="batch")
    assert "Say why the flag can be cleared: a reason is required." in empty.content.decode()
    flag.refresh_from_db()
    assert flag.cleared_at is None
    done = client.post(url, {"reason": "confirmed by phone with J. Doe"}, HTTP_HX_REQUEST="true",
                       HTTP_HX_TARGET="batch")
    assert done.status_code == 200 and "Flag on E1 cleared." in done.content.decode()
    assert "Cleared</span> by tom" in done.content.decode()
    instruction.refresh_from_db()
    flag.refresh_from_db()
    assert instruction.status == InstructionStatus.READY and flag.cleared_by == people["treasury"]


def test_generated_files_download_for_users_who_may(client, people, batch, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    services.payment_batch_approve(batch_id=batch.pk, actor=people["approver"])
    from apps.payments.transmission import payment_batch_transmit

    payment_batch_transmit(batch_id=batch.pk)  # no bank connection here: generated, not sent
    file = PaymentFile.objects.get(batch=batch)
    client.force_login(people["treasury"])
    detail = client.get(f"/payments/{batch.pk}/").content.decode()
    assert file.message_id in detail and 'data-testid="download"' in detail
    response = client.get(f"/payments/files/{file.pk}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"<?xml")
    client.force_login(people["approver"])  # approvers read batches but not raw files
    assert 'data-testid="download"' not in client.get(f"/payments/{batch.pk}/").content.decode()
    assert client.get(f"/payments/files/{file.pk}/download/").status_code == 403


# --- approvals inbox ---------------------------------------------------------------------------------------------

def test_inbox_shows_what_changed_after_an_instruction_edit(client, people, entity_a):
    ApprovalRule.objects.create(entity=entity_a, name="two", min_amount=Decimal("0"), approvers=2)
    batch = services.payment_batch_receive(data=payload(), actor=people["clerk"])
    client.force_login(people["approver2"])
    before = client.get("/payments/approvals/").content.decode()
    assert "What changed since receipt" in before and "Nothing changed." in before
    services.payment_batch_approve(batch_id=batch.pk, actor=people["approver"])
    services.payment_instruction_update(instruction_id=batch.instructions.get(end_to_end_id="E2E-1").pk,
                                        actor=people["treasury"], amount="1300.00", reason="invoice corrected")
    inbox = client.get("/payments/approvals/").content.decode()
    assert "Approval by <strong>anna</strong>" in inbox
    assert "E2E-1 changed: invoice corrected" in inbox  # the voided approval and why
    assert "<strong>E2E-1</strong> · tom" in inbox
    assert "amount: 1,250.00 EUR &rarr; <strong>1,300.00 EUR</strong>" in inbox
    assert "1,380.50 EUR" in inbox and 'data-testid="approve"' in inbox
    assert client.get("/payments/approvals/count/").content.decode().strip().endswith("(1 pending)</span>")

    editor = with_role(people["treasury"], "approver")  # the editor is shown the batch greyed, with the reason
    client.force_login(editor)
    greyed = client.get("/payments/approvals/").content.decode()
    assert "You cannot approve this batch: you last changed this batch." in greyed
    assert 'data-testid="approve"' not in greyed
    assert "(0 pending)" in client.get("/payments/approvals/count/").content.decode()
    maker = with_role(people["clerk"], "approver")
    client.force_login(maker)
    assert "You cannot approve this batch: you submitted this batch." in client.get(
        "/payments/approvals/").content.decode()


def test_inbox_shows_changed_bank_details_and_approves_inline(client, people):
    batch = bank_details_changed_batch(people)
    client.force_login(people["approver"])
    inbox = client.get("/payments/approvals/").content.decode()
    assert "1 instruction held for review" in inbox
    assert "differs from the one on file" in inbox and "Not cleared yet (treasury)." in inbox
    assert f"iban {VENDOR_IBAN} &rarr; <strong>{OTHER_IBAN}</strong>" in inbox
    assert "vendor letter of 2 Nov" in inbox
    held = client.post(f"/payments/{batch.pk}/act/", {"action": "approve", "from": "inbox"},
                       HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"inbox-{batch.pk}")
    assert "held for review: clear or cancel them before approving" in held.content.decode()
    services.payment_flag_clear(flag_id=PaymentFlag.objects.get(kind="bank_details_changed").pk,
                                actor=people["treasury"], reason="confirmed by phone")
    inbox = client.get("/payments/approvals/").content.decode()
    assert "Cleared by tom" in inbox and "status: held &rarr; <strong>ready</strong>" in inbox
    done = client.post(f"/payments/{batch.pk}/act/", {"action": "approve", "from": "inbox"},
                       HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"inbox-{batch.pk}")
    body = done.content.decode()
    assert 'id="approvals-pending" data-testid="approvals-pending" hx-swap-oob="true"> (0 pending)' in body
    assert ">Approved</span>" in body and 'data-testid="approve"' not in body
    assert Approval.objects.get(batch=batch).approver == people["approver"]


def test_nav_links_follow_the_permissions(client, people, batch):
    client.force_login(people["approver"])
    nav = client.get("/payments/").content.decode()
    if "_nav_payments" not in nav and 'data-testid="nav-approvals"' not in nav:
        pytest.skip("base.html does not include console/_nav_payments.html yet")
    assert 'href="/payments/approvals/"' in nav
    client.force_login(people["clerk"])
    nav = client.get("/payments/").content.decode()
    assert 'data-testid="nav-approvals"' not in nav and ">Payments</a>" in nav
