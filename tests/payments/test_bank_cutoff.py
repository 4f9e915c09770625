"""Per-bank same-day cut-off: configured per bank partner in its time zone; a same-day batch after the cut-off is
refused at intake, and a batch reaching the bank after it is moved to the next business day, visibly."""

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import yaml

from apps.connectors.services import connection_upsert
from apps.core.config import ConfigError, config_load
from apps.core.errors import ValidationFailed
from apps.core.models import Event
from apps.exceptions.models import ExceptionCase
from apps.exceptions.services import case_retry
from apps.payments import cutoff, services
from apps.payments.models import BankCutoff, BatchStatus, PaymentFile
from apps.payments.transmission import payment_batch_transmit

BERLIN = ZoneInfo("Europe/Berlin")
WEDNESDAY, THURSDAY = date(2030, 4, 10), date(2030, 4, 11)  # TARGET2 business days


@pytest.fixture
def clock(monkeypatch):
    """The bank-local "now" the cut-off rules see."""
    class Clock:
        def set(self, day: date, hh: int, mm: int = 0) -> None:
            monkeypatch.setattr(cutoff, "_now", lambda: datetime.combine(day, time(hh, mm), BERLIN))

    return Clock()


def batch_for(make_user, entity_a, day: date, reference: str = "CUT-1"):
    clerk = make_user("ap_clerk", entities=[entity_a])
    return services.payment_batch_receive(actor=clerk, data={
        "entity": "DE01", "debtor_account": "DE89370400440532013000", "requested_execution_date": day,
        "erp_reference": reference, "instructions": [
            {"end_to_end_id": f"{reference}-1", "amount": "420.00", "currency": "EUR",
             "creditor": {"name": "Nordlicht Logistik AG", "iban": "DE32200411110123123123",
                          "address": {"town": "Hamburg", "country": "DE"}}}]})


def test_cutoffs_are_configured_per_bank_with_config_load(bank_partner):
    text = "bank_cutoffs:\n  - {bank: DEUT, cutoff: 15:30, time_zone: Europe/Berlin}\n"  # unquoted: YAML reads 930
    [result] = config_load(yaml.safe_load(text))
    assert (result.action, result.key) == ("created", "DEUT")
    row = BankCutoff.objects.get(bank_partner=bank_partner)
    assert (row.cutoff, row.time_zone) == (time(15, 30), "Europe/Berlin")
    assert str(cutoff.bank_cutoff(bank_partner)) == "15:30 Europe/Berlin"
    assert config_load({"bank_cutoffs": [{"bank": "DEUT", "cutoff": "15:30", "time_zone": "Europe/Berlin"}]})[
        0].action == "unchanged"
    assert row.history.count() == 1
    with pytest.raises(ConfigError, match=r"bank_cutoffs\[0\]: time_zone: 'Mars/Olympus' is not an IANA time zone"):
        config_load({"bank_cutoffs": [{"bank": "DEUT", "cutoff": "15:30", "time_zone": "Mars/Olympus"}]})
    with pytest.raises(ConfigError, match=r"bank_cutoffs\[0\]: cutoff: '25:00' is not a time of day"):
        config_load({"bank_cutoffs": [{"bank": "DEUT", "cutoff": "25:00"}]})
    with pytest.raises(ConfigError, match=r"bank: no bank partner with code 'NOPE'"):
        config_load({"bank_cutoffs": [{"bank": "NOPE", "cutoff": "15:30"}]})


def test_without_configuration_the_cutoff_is_14_00_in_the_settings_time_zone(bank_partner, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    assert str(cutoff.bank_cutoff(bank_partner)) == "14:00 Europe/Berlin"


def test_same_day_batch_after_the_banks_cutoff_is_refused_at_intake(make_user, entity_a, account_a, clock):
    BankCutoff.objects.create(bank_partner=account_a.bank, cutoff=time(15, 30), time_zone="Europe/Berlin")
    clock.set(WEDNESDAY, 16)
    with pytest.raises(ValidationFailed) as refused:
        batch_for(make_user, entity_a, WEDNESDAY)
    assert refused.value.extra["errors"] == [{"field": "requested_execution_date", "message": (
        "Deutsche Bank's cut-off for same-day execution is 15:30 Europe/Berlin; choose 2030-04-11 or later.")}]
    clock.set(WEDNESDAY, 15, 29)
    assert batch_for(make_user, entity_a, WEDNESDAY).status == BatchStatus.PENDING_APPROVAL


@pytest.fixture
def bank_drop(tmp_path, settings, account_a):
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "bank").mkdir()
    return tmp_path / "bank"


def drop_connection(bank_drop):
    connection_upsert(code="deut-drop", name="DEUT drop", partner_kind="bank", partner_ref="DEUT",
                      transport="directory", endpoint=str(bank_drop), options={"outbox_dir": "outbox"})


def test_batch_released_after_the_cutoff_goes_the_next_business_day_visibly(make_user, entity_a, account_a, clock,
                                                                           bank_drop, client):
    BankCutoff.objects.create(bank_partner=account_a.bank, cutoff=time(14), time_zone="Europe/Berlin")
    drop_connection(bank_drop)
    clock.set(WEDNESDAY, 9)
    batch = batch_for(make_user, entity_a, WEDNESDAY)
    approver = make_user("approver", entities=[entity_a])
    services.payment_batch_approve(batch_id=batch.pk, actor=approver)
    clock.set(WEDNESDAY, 14, 5)  # the transmission runs after the bank's cut-off
    file = payment_batch_transmit(batch_id=batch.pk)

    batch.refresh_from_db()
    assert (batch.status, batch.requested_execution_date, batch.execution_date_rolled_from) == (
        BatchStatus.TRANSMITTED, THURSDAY, WEDNESDAY)
    with file.raw_document.content.open("rb") as fh:
        assert b"<ReqdExctnDt>2030-04-11</ReqdExctnDt>" in fh.read()
    rolled = Event.objects.get(type="payment_batch.execution_date_rolled")
    assert (rolled.payload["from"], rolled.payload["to"], rolled.payload["cutoff"]) == (
        "2030-04-10", "2030-04-11", "14:00 Europe/Berlin")
    assert batch.history.filter(
        history_change_reason="execution date 2030-04-10 -> 2030-04-11: cut-off 14:00 Europe/Berlin passed").exists()
    assert batch.approvals.filter(voided_at__isnull=True).count() == 1  # the bank's rule, not an edit
    client.force_login(approver)
    page = client.get(f"/payments/{batch.pk}/").content.decode()
    assert 'data-testid="date-rolled">Moved from Wed 10 Apr 2030' in page


def test_a_file_not_sent_is_rebuilt_when_retried_on_a_later_day(make_user, entity_a, account_a, clock, bank_drop):
    clock.set(WEDNESDAY, 9)
    batch = batch_for(make_user, entity_a, WEDNESDAY)
    services.payment_batch_approve(batch_id=batch.pk, actor=make_user("approver", entities=[entity_a]))
    first = payment_batch_transmit(batch_id=batch.pk)  # no bank connection yet: not sent
    assert first.status == PaymentFile.Status.GENERATED
    case = ExceptionCase.objects.get(kind="payment.transmission_failed")

    drop_connection(bank_drop)
    clock.set(THURSDAY, 10)
    case = case_retry(case_id=case.pk, actor=make_user("treasury", entities=[entity_a]))
    assert case.status == "resolved"
    first.refresh_from_db()
    second = batch.files.exclude(pk=first.pk).get()
    assert (first.status, second.status) == (PaymentFile.Status.SUPERSEDED, PaymentFile.Status.SENT)
    batch.refresh_from_db()
    assert (batch.requested_execution_date, batch.execution_date_rolled_from) == (THURSDAY, WEDNESDAY)
    sent = list((bank_drop / "outbox").iterdir())
    assert len(sent) == 1 and b"<ReqdExctnDt>2030-04-11</ReqdExctnDt>" in sent[0].read_bytes()
    assert batch.total_amount == Decimal("420.00")
