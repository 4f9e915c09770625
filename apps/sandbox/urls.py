from django.urls import re_path

from apps.sandbox import views

app_name = "sandbox"

# Trailing slashes are optional: the hub's REST channel joins paths without one (POST cannot be redirected).
BANK = r"^banks/(?P<code>[-\w]+)"
DOCS = r"(?P<kind>statements|status-reports)"

urlpatterns = [
    re_path(BANK + r"/?$", views.bank_detail, name="bank"),
    re_path(BANK + r"/(?:payment-files|payments)/?$", views.payment_files, name="payment-files"),
    re_path(BANK + r"/(?:payment-files|payments)/(?P<pk>\d+)/?$", views.payment_file_detail, name="payment-file"),
    re_path(BANK + r"/" + DOCS + r"/?$", views.document_list, name="documents"),
    re_path(BANK + r"/" + DOCS + r"/(?P<pk>\d+)(?:/content)?/?$", views.document_content, name="document-content"),
    re_path(BANK + r"/" + DOCS + r"/(?P<pk>\d+)/ack/?$", views.document_ack, name="document-ack"),
    re_path(BANK + r"/faults/?$", views.bank_faults, name="faults"),
    re_path(BANK + r"/credits/?$", views.credits, name="credits"),
]
