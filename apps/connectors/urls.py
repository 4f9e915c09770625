from django.urls import path

from apps.connectors import views

app_name = "connectors"

urlpatterns = [
    path("", views.connection_list, name="list"),
    path("<int:pk>/", views.connection_detail, name="detail"),
    path("<int:pk>/run/", views.connection_run, name="run"),
    path("<int:pk>/toggle/", views.connection_toggle, name="toggle"),
    path("<int:pk>/circuit-reset/", views.connection_circuit_reset, name="circuit-reset"),
    path("<int:pk>/credentials/", views.connection_credentials, name="credentials"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/status/", views.run_status, name="run-status"),
    path("runs/<int:pk>/documents/<int:document_id>/", views.run_document, name="run-document"),
]
