from django.db.models import QuerySet

from apps.org.selectors import entity_ids
from apps.payments.models import PaymentBatch


def batch_list(*, user) -> QuerySet[PaymentBatch]:
    if not user.has_perm("payments.view_paymentbatch"):
        return PaymentBatch.objects.none()
    qs = PaymentBatch.objects.select_related("entity", "debtor_account", "created_by").prefetch_related(
        "approvals__approver")
    ids = entity_ids(user=user)
    return qs if ids is None else qs.filter(entity__in=ids)
