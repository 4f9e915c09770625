from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.connectors.api import views

router = SimpleRouter()
router.register("connections", views.ConnectionViewSet, basename="connection")
router.register("sync-runs", views.SyncRunViewSet, basename="sync-run")

urlpatterns = [
    path("connections/<int:pk>/run/", views.ConnectionRunView.as_view(), name="connection-run"),
    path("connections/<int:pk>/credentials/", views.ConnectionCredentialsView.as_view(), name="connection-credentials"),
    path("connections/<int:pk>/enable/", views.ConnectionEnableView.as_view(), name="connection-enable"),
    path("connections/<int:pk>/disable/", views.ConnectionDisableView.as_view(), name="connection-disable"),
    path("connections/<int:pk>/circuit-reset/", views.ConnectionCircuitResetView.as_view(),
         name="connection-circuit-reset"),
    *router.urls,
]
