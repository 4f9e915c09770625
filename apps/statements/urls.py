from django.urls import path

from apps.statements import views

app_name = "statements"

urlpatterns = [
    path("", views.statement_list, name="list"),
    path("<int:pk>/", views.statement_detail, name="detail"),
    path("<int:pk>/document/", views.statement_document, name="document"),
    path("imports/", views.import_list, name="imports"),
    path("imports/<int:pk>/", views.import_detail, name="import"),
    path("imports/<int:pk>/progress/", views.import_progress, name="import-progress"),
    path("upload/", views.upload, name="upload"),
    path("csv-mappings/", views.csv_mapping_list, name="csv-mappings"),
    path("csv-mappings/new/", views.csv_mapping_create, name="csv-mapping-create"),
    path("csv-mappings/<int:pk>/", views.csv_mapping_edit, name="csv-mapping-edit"),
    path("csv-mappings/preview/", views.csv_mapping_preview, name="csv-mapping-preview"),
    path("cash/", views.cash_position, name="cash"),
]
