from django.urls import path

from apps.expenses import views

app_name = "expenses"

urlpatterns = [
    path("", views.report_list, name="list"),
    path("<int:pk>/", views.report_detail, name="detail"),
    path("<int:pk>/repost/", views.report_repost, name="repost"),
    path("<int:pk>/document/", views.report_document, name="document"),
    path("upload/", views.report_upload, name="upload"),
    path("master-data/", views.master_data, name="master-data"),
    path("master-data/<str:code>/sync/", views.master_data_sync, name="master-data-sync"),
]
