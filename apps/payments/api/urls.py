from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.payments.api import views

router = SimpleRouter()
router.register("payment-batches", views.PaymentBatchViewSet, basename="payment-batch")

urlpatterns = [
    path("payment-batches/<int:pk>/approve/", views.BatchApproveView.as_view(), name="payment-batch-approve"),
    path("payment-batches/<int:pk>/reject/", views.BatchRejectView.as_view(), name="payment-batch-reject"),
    path("payment-batches/<int:pk>/cancel/", views.BatchCancelView.as_view(), name="payment-batch-cancel"),
    path("payment-flags/<int:pk>/clear/", views.FlagClearView.as_view(), name="payment-flag-clear"),
    path("payment-instructions/<int:pk>/cancel/", views.InstructionCancelView.as_view(),
         name="payment-instruction-cancel"),
    path("payment-instructions/<int:pk>/resend/", views.InstructionResendView.as_view(),
         name="payment-instruction-resend"),
    *router.urls,
]
