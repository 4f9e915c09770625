from rest_framework.routers import SimpleRouter

from apps.statements.api import views

router = SimpleRouter()
router.register("statement-files", views.StatementFileViewSet, basename="statement-file")
router.register("statements", views.StatementViewSet, basename="statement")
router.register("statement-entries", views.StatementEntryViewSet, basename="statement-entry")
router.register("cash-positions", views.CashPositionViewSet, basename="cash-position")
urlpatterns = router.urls
