from django.urls import path

from apps.exceptions import views

app_name = "exceptions"

urlpatterns = [
    path("", views.case_queue, name="queue"),
    path("bulk/", views.case_bulk, name="bulk"),
    path("<int:pk>/", views.case_detail, name="detail"),
    path("<int:pk>/act/", views.case_action, name="act"),
    path("<int:pk>/document/", views.case_document, name="document"),
]
