from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.expenses.api import views

router = SimpleRouter()
router.register("expense-reports", views.ExpenseReportViewSet, basename="expense-report")

urlpatterns = [
    path("expense-reports/<int:pk>/repost/", views.RepostRequestView.as_view(), name="expense-report-repost"),
    path("expense-reports/<int:pk>/repost/approve/", views.RepostApproveView.as_view(),
         name="expense-report-repost-approve"),
    path("expense-reports/<int:pk>/repost/reject/", views.RepostRejectView.as_view(),
         name="expense-report-repost-reject"),
    path("expense-platforms/<slug:platform>/webhook/", views.PlatformWebhookView.as_view(),
         name="expense-platform-webhook"),
    *router.urls,
]
