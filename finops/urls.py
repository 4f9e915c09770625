from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.console.admin_site import restrict_admin_to_admin_role

restrict_admin_to_admin_role(admin.site)

api_v1 = [
    path("", include("apps.exceptions.api.urls")),
    path("", include("apps.org.api.urls")),
    path("", include("apps.connectors.api.urls")),
    path("", include("apps.statements.api.urls")),
    path("", include("apps.webhooks.api.urls")),
    path("", include("apps.payments.api.urls")),
    path("", include("apps.expenses.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("cases/", include("apps.exceptions.urls")),
    path("connections/", include("apps.connectors.urls")),
    path("statements/", include("apps.statements.urls")),
    path("webhooks/", include("apps.webhooks.urls")),
    path("sandbox/", include("apps.sandbox.urls")),
    path("payments/", include("apps.payments.urls")),
    path("expenses/", include("apps.expenses.urls")),
    path("", include("apps.console.urls")),
]

handler404 = "apps.console.views.page_not_found"
handler500 = "apps.console.views.server_error"
handler403 = "apps.console.views.permission_denied"
