import pytest

from apps.core.errors import PermissionDenied, ValidationFailed
from apps.org.models import LegalEntity
from apps.org.services import bank_account_upsert, entity_upsert


def test_admin_role_may_change_configuration_others_may_not(make_user):
    admin = make_user("admin")
    result = entity_upsert(code="DE01", name="Acme", country="DE", base_currency="EUR", actor=admin,
                           reason="new subsidiary")
    assert result.action == "created"
    assert result.obj.history.first().history_user == admin
    for role in ("ap_clerk", "treasury", "approver", "auditor"):
        with pytest.raises(PermissionDenied):
            entity_upsert(code="DE01", name="Renamed", country="DE", base_currency="EUR", actor=make_user(role))
    assert LegalEntity.objects.get().name == "Acme"


def test_bank_account_needs_an_identifier(entity_a, bank_partner):
    with pytest.raises(ValidationFailed, match="IBAN or an account number"):
        bank_account_upsert(entity_code="DE01", bank_code="DEUT", currency="EUR", name="X")


def test_iban_is_normalised(entity_a, bank_partner):
    result = bank_account_upsert(entity_code="DE01", bank_code="DEUT", currency="EUR", name="X",
                                 iban="de89 3704 0044 0532 0130 00")
    assert result.obj.iban == "DE89370400440532013000"
