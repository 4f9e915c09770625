"""The payments pages in a real browser: an approver opens the approvals inbox, reads what changed, approves a
batch through HTMX without a page load and sees it become Approved; the batch page shows the decision."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.payments import services
from apps.payments.models import ApprovalRule, BatchStatus, PaymentBatch
from apps.payments.validation import next_business_day

NO_RELOAD = "window.__finopsNoReload"


def payload(ref, instructions):
    return {"entity": "DE01", "debtor_account": "DE89370400440532013000", "erp_reference": ref,
            "requested_execution_date": next_business_day(timezone.localdate() + timedelta(days=3), "EUR"),
            "instructions": instructions}


def line(e2e, amount, name, iban, text):
    return {"end_to_end_id": e2e, "amount": amount, "currency": "EUR", "creditor": {"name": name, "iban": iban},
            "remittance_information": text}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_approver_approves_from_the_inbox_without_reloading(
    page, login, make_user, entity_a, account_a, settings, tmp_path, js_errors
):
    settings.MEDIA_ROOT = tmp_path
    clerk = make_user("ap_clerk", entities=[entity_a], username="clara")
    treasury = make_user("treasury", entities=[entity_a], username="tom")
    approver = make_user("approver", entities=[entity_a], username="anna")
    other = make_user("approver", entities=[entity_a], username="bert")
    ApprovalRule.objects.create(entity=entity_a, name="two from 10k", min_amount=Decimal("10000"), approvers=2)
    small = services.payment_batch_receive(data=payload("AP-2026-11-A", [
        line("INV-4711", "1250.00", "Rheinmetall Teile GmbH", "DE12100700000555444333", "INV 4711"),
        line("INV-4712", "80.50", "Nordlicht Logistik AG", "DE32200411110123123123", "INV 4712"),
    ]), actor=clerk)
    large = services.payment_batch_receive(data=payload("AP-2026-11-B", [
        line("INV-5001", "12000.00", "Globex Corporation", "DE65100700000123456789", "INV 5001"),
    ]), actor=clerk)
    services.payment_batch_approve(batch_id=large.pk, actor=other)
    services.payment_instruction_update(instruction_id=large.instructions.get().pk, actor=treasury,
                                        amount="11800.00", reason="credit note 77 deducted")

    login(page, approver, next="/payments/approvals/")
    expect(page.get_by_test_id("inbox-item")).to_have_count(2)
    changed = page.locator(f"#inbox-{large.pk}")
    expect(changed.get_by_test_id("voided")).to_contain_text("Approval by bert")
    expect(changed.get_by_test_id("instruction-changes")).to_contain_text("12,000.00 EUR → 11,800.00 EUR")
    page.screenshot(path="/tmp/inbox.png", full_page=True)

    page.evaluate(f"{NO_RELOAD} = 'same document'")
    item = page.locator(f"#inbox-{small.pk}")
    item.get_by_test_id("approve").click()
    expect(item.get_by_test_id("status")).to_have_text("Approved")
    expect(item.get_by_test_id("notice")).to_contain_text("batch AP-2026-11-A is approved")
    expect(item.get_by_test_id("approve")).to_have_count(0)
    assert page.evaluate(f"{NO_RELOAD} ?? null") == "same document", "the page reloaded instead of swapping"
    # the approval commits, then the (eager) transmission runs: no bank connection here, so it stays approved
    assert PaymentBatch.objects.get(pk=small.pk).status == BatchStatus.APPROVED

    page.goto(f"/payments/{small.pk}/")
    expect(page.get_by_test_id("batch-facts").get_by_test_id("status")).to_have_text("Approved")
    expect(page.get_by_test_id("approval-row")).to_contain_text("anna")
    expect(page.get_by_test_id("instruction-row")).to_have_count(2)
    expect(page.get_by_test_id("timeline")).to_contain_text("approved by 1 of 1")
    page.screenshot(path="/tmp/batch.png", full_page=True)
    assert js_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_maker_sees_the_refusal_and_a_reject_needs_a_reason(
    page, login, make_user, entity_a, account_a, js_errors
):
    maker = make_user("ap_clerk", entities=[entity_a], username="clara")
    from django.contrib.auth.models import Group

    maker.groups.add(Group.objects.get(name="approver"))
    approver = make_user("approver", entities=[entity_a], username="anna")
    batch = services.payment_batch_receive(data=payload("AP-2026-11-C", [
        line("INV-9", "99.00", "Initech GmbH", "DE12500400000987654321", "INV 9")]), actor=maker)

    login(page, maker, next=f"/payments/{batch.pk}/")
    expect(page.get_by_test_id("blocker")).to_contain_text("you submitted this batch")
    page.evaluate(f"{NO_RELOAD} = 'same document'")
    page.get_by_test_id("batch-actions").get_by_test_id("approve").click()
    expect(page.get_by_test_id("action-error")).to_contain_text("maker-checker")
    assert page.evaluate(f"{NO_RELOAD} ?? null") == "same document"

    page.context.clear_cookies()
    login(page, approver, next=f"/payments/{batch.pk}/")
    page.evaluate(f"{NO_RELOAD} = 'same document'")
    page.get_by_test_id("reject").click()  # the browser asks for the reason first
    assert page.get_by_test_id("reason").evaluate("el => el.validity.valueMissing")
    page.get_by_test_id("reason").fill("wrong debtor account")
    page.get_by_test_id("reject").click()
    expect(page.get_by_test_id("batch-facts").get_by_test_id("status")).to_have_text("Rejected")
    assert page.evaluate(f"{NO_RELOAD} ?? null") == "same document"
    assert PaymentBatch.objects.get(pk=batch.pk).status == BatchStatus.REJECTED
    assert js_errors == []
