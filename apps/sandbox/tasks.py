from celery import shared_task

from apps.sandbox.erp_files import sandbox_erp_tick
from apps.sandbox.services import sandbox_tick


@shared_task(acks_late=True)
def sandbox_tick_task(bank_code: str | None = None) -> list[dict]:
    """Advance the sandbox banks (safe to repeat: each step works on what is still open)."""
    return [vars(result) for result in sandbox_tick(bank_code=bank_code)]


@shared_task(acks_late=True)
def sandbox_erp_tick_task(erp_code: str | None = None) -> list[dict]:
    """Advance the legacy sandbox ERPs (safe to repeat)."""
    return [vars(result) for result in sandbox_erp_tick(erp_code=erp_code)]
