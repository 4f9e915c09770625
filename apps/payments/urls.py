from django.urls import path

from apps.payments import views

app_name = "payments"

urlpatterns = [
    path("", views.batch_list, name="list"),
    path("approvals/", views.approval_inbox_page, name="inbox"),
    path("approvals/count/", views.approval_count, name="inbox_count"),
    path("<int:pk>/", views.batch_detail, name="detail"),
    path("<int:pk>/act/", views.batch_action, name="act"),
    path("flags/<int:pk>/clear/", views.flag_clear, name="flag_clear"),
    path("files/<int:pk>/download/", views.file_download, name="file_download"),
]
