"""config_load section ``expense_policies``: per entity, the account reimbursements are paid from and the accounts
used when the ERP's master data names none."""

from apps.core.config import ItemResult, register_section
from apps.expenses.services import expense_policy_upsert


def _load_policy(item: dict, *, actor) -> ItemResult:
    _policy, action, changes = expense_policy_upsert(
        entity_code=str(item["entity"]), reimbursement_account=str(item.get("reimbursement_account") or ""),
        payable_account=str(item.get("payable_account") or ""), rounding_account=str(item.get("rounding_account") or ""),
        tax_tolerance=item.get("tax_tolerance"), actor=actor)
    return ItemResult("expense_policies", str(item["entity"]), action,
                      {k: (None if a is None else str(a), str(b)) for k, (a, b) in changes.items()})


register_section("expense_policies", order=60, load=_load_policy,
                 fields={"entity": True, "reimbursement_account": False, "payable_account": False,
                         "rounding_account": False, "tax_tolerance": False})
