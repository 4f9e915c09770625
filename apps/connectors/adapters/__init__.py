"""ERP and expense adapters: each translates one partner's dialect into the canonical documents of
docs/partner-documents.md, for one attempt on one connection (the resilient wrappers in ``services`` retry).

Registered by name in ``ConnectorsConfig.ready`` and chosen per connection by ``options.adapter``:

| name | partner kind | transport | module |
|---|---|---|---|
| ``rest_erp`` | erp | rest | :mod:`.rest_erp` (cloud ERP) |
| ``csv_erp`` | erp | directory, sftp | :mod:`.csv_erp` (legacy ERP, CSV files) |
| ``rest_expense`` | expense | rest | :mod:`.rest_expense` (Concur-like platform) |
"""

from __future__ import annotations


def register() -> None:
    from apps.connectors.adapters.csv_erp import CsvErpAdapter
    from apps.connectors.adapters.rest_erp import RestErpAdapter
    from apps.connectors.adapters.rest_expense import RestExpenseSource
    from apps.connectors.channels import register_erp_adapter, register_expense_source

    register_erp_adapter("rest_erp", RestErpAdapter.connect)
    register_erp_adapter("csv_erp", CsvErpAdapter.connect)
    register_expense_source("rest_expense", RestExpenseSource.connect)
