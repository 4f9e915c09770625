"""A fake ERP behind the real connector framework: an adapter registered with ``register_erp_adapter`` and an ERP
connection made with ``connection_upsert``, so every call goes through ``resilience.call`` (runs, retries, circuit,
``connector.unavailable``) exactly as a real adapter's would. Only the partner itself is fake."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from apps.connectors import resilience
from apps.connectors.channels import register_erp_adapter
from apps.connectors.errors import PermanentError, TransientError
from apps.connectors.models import SyncRunDocument
from apps.connectors.services import connection_upsert
from apps.core.services import document_open, document_store
from apps.org.services import entity_erp_connection_set

ADAPTER = "fake_erp_test"
DEBTOR = "DE89370400440532013000"


class FakeErp:
    """What the ERP holds: the batch documents it hands over on every pull, the status documents it accepted, and
    whether it is down (HTTP 503) or refuses what it gets (HTTP 422)."""

    def __init__(self):
        self.batches: list[tuple[str, bytes]] = []
        self.statuses: list[dict] = []
        self.push_attempts = 0
        self.down = False
        self.refuse = False
        self.connection = None

    def publish(self, name: str, content: bytes | dict) -> None:
        if isinstance(content, dict):
            content = json.dumps(content, indent=1).encode()
        self.batches.append((name, content))


class FakeErpAdapter:
    """One attempt on one connection, as ``factory(connection, recorder)`` builds it."""

    def __init__(self, erp: FakeErp, connection, recorder):
        self.erp, self.connection, self.recorder = erp, connection, recorder

    def _available(self) -> None:
        if self.erp.down:
            raise TransientError("ERP API answered HTTP 503 Service Unavailable.")

    def pull_payment_batches(self):
        self._available()
        documents = []
        for name, content in self.erp.batches:  # an ERP that hands the same batches over again
            document, _ = document_store(content=content, source=f"erp:{self.connection.code}",
                                         media_type="application/json", filename=name)
            self.recorder.add_document(document, SyncRunDocument.Role.RECEIVED, remote_name=name)
            self.recorder.count("received")
            documents.append(document)
        return documents

    def pull_master_data(self):
        return []

    def post_journal(self, doc):
        raise PermanentError("This fake ERP takes no journals.")

    def push_payment_status(self, doc):
        self.erp.push_attempts += 1
        self._available()
        with document_open(doc) as fh:
            payload = json.loads(fh.read(), parse_float=Decimal)
        if self.erp.refuse:
            raise PermanentError(f"ERP answered HTTP 422: batch {payload['batch']['erp_reference']} is unknown here.")
        self.erp.statuses.append(payload)
        return {"status": "delivered"}


class _NoWait:
    def __init__(self):
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def uniform(self, low: float, high: float) -> float:
        return high


@pytest.fixture
def fake_erp(db, entity_a, account_a, tmp_path, settings, monkeypatch) -> FakeErp:
    """The fake ERP, its connection ``fake-erp`` (3 attempts per call, circuit opens after 3 failures), and DE01
    routed to it."""
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(resilience, "clock", _NoWait())
    erp = FakeErp()
    register_erp_adapter(ADAPTER, lambda connection, recorder: FakeErpAdapter(erp, connection, recorder))
    (tmp_path / "erp").mkdir()
    erp.connection = connection_upsert(
        code="fake-erp", name="Fake ERP", partner_kind="erp", partner_ref="FakeERP", transport="directory",
        endpoint=str(tmp_path / "erp"), options={"adapter": ADAPTER}, max_attempts=3, failure_threshold=3,
    ).obj
    entity_erp_connection_set(entity_code=entity_a.code, connection_code="fake-erp")
    return erp


def batch_document(erp_reference: str, execution_date, *, amount: str = "1250.00",
                   iban: str = "DE12100700000555444333", **extra) -> dict:
    return {
        "schema": "finops.payment_batch.v1", "entity": "DE01", "debtor_account": DEBTOR,
        "requested_execution_date": str(execution_date), "erp_reference": erp_reference,
        "instructions": [{
            "end_to_end_id": f"{erp_reference}-1", "amount": amount, "currency": "EUR",
            "creditor": {"name": "Rheinmetall Teile GmbH", "iban": iban, "bic": "DEUTDEBBXXX",
                         "address": {"street": "Hauptstr. 1", "postcode": "40210", "town": "Duesseldorf",
                                     "country": "DE"},
                         "counterparty_ref": "V-1001"},
            "remittance_information": f"Invoice {erp_reference}", "purpose": "SUPP", "erp_reference": "INV-4711",
        }],
        **extra,
    }
