from celery import shared_task


@shared_task(ignore_result=True)
def case_sla_check_task() -> int:
    from apps.exceptions.services import case_sla_check

    return case_sla_check()


@shared_task(acks_late=True, ignore_result=True)
def case_retry_task(case_id: int, actor_id: int) -> None:
    from django.contrib.auth import get_user_model

    from apps.exceptions.services import case_retry

    actor = get_user_model().objects.filter(pk=actor_id, is_active=True).first()
    if actor is not None:
        case_retry(case_id=case_id, actor=actor)
