"""config_load sections owned by the payments app."""

from apps.core.config import ItemResult, register_section
from apps.payments.cutoff import bank_cutoff_set

REASON = "config_load"


def _load_bank_cutoff(item: dict, *, actor) -> ItemResult:
    row, action, changes = bank_cutoff_set(bank_code=str(item["bank"]), cutoff=item["cutoff"],
                                           time_zone=str(item.get("time_zone") or ""), actor=actor, reason=REASON)
    return ItemResult("bank_cutoffs", str(item["bank"]), action,
                      {k: (None if a is None else str(a), str(b)) for k, (a, b) in changes.items()})


register_section("bank_cutoffs", order=25, load=_load_bank_cutoff,
                 fields={"bank": True, "cutoff": True, "time_zone": False})
