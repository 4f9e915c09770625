from rest_framework.routers import SimpleRouter

from apps.org.api import views

router = SimpleRouter()
router.register("entities", views.EntityViewSet, basename="entity")
router.register("bank-partners", views.BankPartnerViewSet, basename="bank-partner")
router.register("bank-accounts", views.BankAccountViewSet, basename="bank-account")
router.register("counterparties", views.CounterpartyViewSet, basename="counterparty")
urlpatterns = router.urls
