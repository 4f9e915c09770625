import json

import pytest
from django.core.management import CommandError, call_command

from apps.core.models import Event
from apps.org.models import BankAccount, BankPartner, Counterparty, LegalEntity

MINIMAL = """
entities: [{code: DE01, name: Acme GmbH, country: DE, base_currency: EUR}]
bank_partners: [{code: DEUT, name: Deutsche Bank, bic: DEUTDEFFXXX}]
bank_accounts: [{entity: DE01, bank: DEUT, iban: DE89370400440532013000, currency: EUR, name: Operating}]
"""


@pytest.fixture
def config(tmp_path):
    def write(text: str, name: str = "config.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def load(path, *args):
    from io import StringIO

    out = StringIO()
    call_command("config_load", str(path), *args, stdout=out)
    return out.getvalue()


def test_minimal_form_loads_and_is_idempotent(db, config):
    path = config(MINIMAL)
    assert "3 created" in load(path)
    account = BankAccount.objects.get()
    assert (account.entity.code, account.bank.code, account.iban, account.currency) == (
        "DE01", "DEUT", "DE89370400440532013000", "EUR")
    events = Event.objects.count()
    assert "3 unchanged" in load(path)
    assert Event.objects.count() == events
    assert account.history.count() == 1
    assert account.history.first().history_change_reason == "config_load"


def test_dry_run_shows_changes_and_writes_nothing(db, config):
    load(config(MINIMAL))
    changed = config(MINIMAL.replace("name: Operating", "name: Operating EUR"), "changed.yaml")
    out = load(changed, "--dry-run")
    assert "DRY RUN, nothing written" in out and "'Operating' -> 'Operating EUR'" in out
    assert BankAccount.objects.get().name == "Operating"
    assert "1 updated" in load(changed)
    assert BankAccount.objects.get().name == "Operating EUR"


def test_json_works_too(db, config):
    data = {"entities": [{"code": "US01", "name": "Acme Inc.", "country": "US", "base_currency": "USD"}],
            "bank_partners": [{"code": "CHAS", "name": "Chase", "bic": "CHASUS33", "statement_formats": ["bai2"],
                               "payment_format": "nacha", "channel": "api"}],
            "bank_accounts": [{"entity": "US01", "bank": "CHAS", "account_number": "000123456789",
                               "routing_code": "021000021", "currency": "USD", "name": "Operating USD"}]}
    load(config(json.dumps(data), "config.json"))
    assert BankPartner.objects.get().bic == "CHASUS33XXX"
    assert BankAccount.objects.get().iban is None
    assert "3 unchanged" in load(config(json.dumps(data), "config.json"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("entites: []", "unknown section 'entites'. Did you mean 'entities'?"),
        ("entities: [{code: DE01, name: A, country: DE, base_curency: EUR}]",
         "entities[0]: unknown field 'base_curency'. Did you mean 'base_currency'?"),
        ("entities: [{code: DE01, name: A, country: DE}]", "entities[0]: field 'base_currency' is required."),
        ("entities: [{code: DE01, name: A, country: DE, base_currency: EUX}]",
         "entities[0]: base_currency: 'EUX' is not an ISO 4217 currency code."),
        ("entities: [{code: DE01, name: A, country: XX, base_currency: EUR}]",
         "entities[0]: country: 'XX' is not an ISO 3166 country code."),
        ("bank_partners: [{code: B, name: B, bic: DEUTDEF}]", "bank_partners[0]: bic: 'DEUTDEF' is not a valid BIC"),
        ("entities: [{code: DE01, name: A, country: DE, base_currency: EUR}]\n"
         "bank_partners: [{code: DEUT, name: D, bic: DEUTDEFFXXX}]\n"
         "bank_accounts: [{entity: DE01, bank: DEUT, iban: DE89370400440532013001, currency: EUR, name: O}]",
         "bank_accounts[0]: iban: 'DE89370400440532013001' is not a valid IBAN (Invalid checksum digits)."),
        ("bank_accounts: [{entity: ZZ99, bank: DEUT, iban: DE89370400440532013000, currency: EUR, name: O}]",
         "bank_accounts[0]: entity: no legal entity with code 'ZZ99'."),
        ("entities: {code: DE01}", "entities: expected a list of items."),
        ("entities: [{code: DE01, name: A\n", "line 2"),
    ],
)
def test_typos_and_invalid_values_name_the_place_and_write_nothing(db, config, text, message):
    with pytest.raises(CommandError) as raised:
        load(config(text))
    assert message in str(raised.value)
    assert "Nothing was written." in str(raised.value)
    assert not LegalEntity.objects.exists() and not BankAccount.objects.exists() and not Event.objects.exists()


def test_counterparty_bank_detail_change_is_kept_in_history(db, config):
    base = MINIMAL + "counterparties: [{entity: DE01, kind: vendor, code: V1, name: Vendor, iban: %s}]\n"
    load(config(base % "DE12100700000555444333"))
    load(config(base % "DE32200411110123123123", "changed.yaml"))
    vendor = Counterparty.objects.get()
    assert list(vendor.history.order_by("history_date").values_list("iban", flat=True)) == [
        "DE12100700000555444333", "DE32200411110123123123"]
    assert Event.objects.filter(type="org.counterparty.bank_details_changed").count() == 1


def test_access_section_grants_entities(db, config, make_user):
    from apps.org.selectors import entity_list

    clerk = make_user("ap_clerk", username="clara")
    auditor = make_user("auditor", username="otto")
    load(config(MINIMAL + "access: [{user: clara, entities: [DE01]}, {user: otto, entities: '*'}]\n"))
    from django.contrib.auth import get_user_model

    clerk = get_user_model().objects.get(pk=clerk.pk)
    assert [e.code for e in entity_list(user=clerk)] == ["DE01"]
    assert entity_list(user=get_user_model().objects.get(pk=auditor.pk)).count() == 1


def test_entity_erp_routing_refers_to_a_connection_defined_in_the_same_file(db, config):
    text = MINIMAL.replace("base_currency: EUR}", "base_currency: EUR, erp_connection: erp-cloud}") + """
connections:
  - {code: erp-cloud, name: Cloud ERP, partner_kind: erp, partner: netsuite-sandbox, transport: rest,
     endpoint: "http://127.0.0.1:8200/erp/"}
"""
    load(config(text))
    entity = LegalEntity.objects.get()
    assert entity.erp_connection.code == "erp-cloud"
    cloud_id = entity.erp_connection_id
    moved = text.replace("erp_connection: erp-cloud", "erp_connection: ''")
    load(config(moved, "moved.yaml"))
    entity.refresh_from_db()
    assert entity.erp_connection is None
    routing = list(entity.history.order_by("history_date", "history_id").values_list("erp_connection_id", flat=True))
    assert routing[-2:] == [cloud_id, None]  # moving an entity to another ERP is a change with history
    with pytest.raises(CommandError, match="erp_connection: no ERP connection 'nope'"):
        load(config(MINIMAL.replace("base_currency: EUR}", "base_currency: EUR, erp_connection: nope}"), "x.yaml"))
