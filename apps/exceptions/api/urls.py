from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.exceptions.api import views

router = SimpleRouter()
router.register("cases", views.CaseViewSet, basename="case")

urlpatterns = [
    path("case-kinds/", views.CaseKindListView.as_view(), name="case-kinds"),
    path("cases/<int:pk>/history/", views.CaseHistoryView.as_view(), name="case-history"),
    path("cases/<int:pk>/assign/", views.CaseAssignView.as_view(), name="case-assign"),
    path("cases/<int:pk>/start/", views.CaseStartView.as_view(), name="case-start"),
    path("cases/<int:pk>/retry/", views.CaseRetryView.as_view(), name="case-retry"),
    path("cases/<int:pk>/resolve/", views.CaseResolveView.as_view(), name="case-resolve"),
    path("cases/<int:pk>/dismiss/", views.CaseDismissView.as_view(), name="case-dismiss"),
    *router.urls,
]
