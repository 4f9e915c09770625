from django.urls import re_path

from apps.sandbox import erp_views, expense_views, views

app_name = "sandbox"

# Trailing slashes are optional: the hub's REST clients join paths without one (POST cannot be redirected).
BANK = r"^banks/(?P<code>[-\w]+)"
DOCS = r"(?P<kind>statements|status-reports)"
ERP = r"^erps/(?P<code>[-\w]+)"
MASTER_DATA = r"(?P<resource>" + "|".join(erp_views.RESOURCES) + r")"
EXPENSE = r"^expense/(?P<code>[-\w]+)"
REPORT = r"/reports/(?P<report_id>[-\w.]+)"

urlpatterns = [
    re_path(BANK + r"/?$", views.bank_detail, name="bank"),
    re_path(BANK + r"/(?:payment-files|payments)/?$", views.payment_files, name="payment-files"),
    re_path(BANK + r"/(?:payment-files|payments)/(?P<pk>\d+)/?$", views.payment_file_detail, name="payment-file"),
    re_path(BANK + r"/" + DOCS + r"/?$", views.document_list, name="documents"),
    re_path(BANK + r"/" + DOCS + r"/(?P<pk>\d+)(?:/content)?/?$", views.document_content, name="document-content"),
    re_path(BANK + r"/" + DOCS + r"/(?P<pk>\d+)/ack/?$", views.document_ack, name="document-ack"),
    re_path(BANK + r"/faults/?$", views.bank_faults, name="faults"),
    re_path(BANK + r"/credits/?$", views.credits, name="credits"),
    # sandbox ERPs (cloud flavour: REST; legacy flavour: files, only the base and faults answer here)
    re_path(ERP + r"/?$", erp_views.erp_detail, name="erp"),
    re_path(ERP + r"/oauth/token/?$", erp_views.erp_token, name="erp-token"),
    re_path(ERP + r"/" + MASTER_DATA + r"/?$", erp_views.master_data, name="erp-master-data"),
    re_path(ERP + r"/payment-batches/?$", erp_views.payment_batches, name="erp-payment-batches"),
    re_path(ERP + r"/payment-batches/(?P<pk>\d+)/?$", erp_views.payment_batch_detail, name="erp-payment-batch"),
    re_path(ERP + r"/payment-batches/(?P<pk>\d+)/ack/?$", erp_views.payment_batch_ack, name="erp-payment-batch-ack"),
    re_path(ERP + r"/journals/?$", erp_views.journals, name="erp-journals"),
    re_path(ERP + r"/payment-status/?$", erp_views.payment_status, name="erp-payment-status"),
    re_path(ERP + r"/faults/?$", erp_views.erp_faults, name="erp-faults"),
    # sandbox expense platform (Concur-like)
    re_path(EXPENSE + r"/?$", expense_views.platform_detail, name="expense"),
    re_path(EXPENSE + r"/oauth/token/?$", expense_views.platform_token, name="expense-token"),
    re_path(EXPENSE + r"/reports/?$", expense_views.reports, name="expense-reports"),
    re_path(EXPENSE + REPORT + r"/?$", expense_views.report_detail, name="expense-report"),
    re_path(EXPENSE + REPORT + r"/export/?$", expense_views.report_export, name="expense-report-export"),
    re_path(EXPENSE + r"/faults/?$", expense_views.platform_faults, name="expense-faults"),
]
