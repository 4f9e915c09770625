from celery import shared_task

from apps.sandbox.services import sandbox_tick


@shared_task(acks_late=True)
def sandbox_tick_task(bank_code: str | None = None) -> list[dict]:
    """Advance the sandbox banks (safe to repeat: each step works on what is still open)."""
    return [vars(result) for result in sandbox_tick(bank_code=bank_code)]
