from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.webhooks.api import views

router = SimpleRouter()
router.register("webhook-subscriptions", views.WebhookSubscriptionViewSet, basename="webhook-subscription")
router.register("webhook-deliveries", views.WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = [
    path("webhook-subscriptions/<int:pk>/rotate-secret/", views.SubscriptionRotateSecretView.as_view(),
         name="webhook-subscription-rotate-secret"),
    path("webhook-subscriptions/<int:pk>/deactivate/", views.SubscriptionDeactivateView.as_view(),
         name="webhook-subscription-deactivate"),
    path("webhook-subscriptions/<int:pk>/activate/", views.SubscriptionActivateView.as_view(),
         name="webhook-subscription-activate"),
    path("webhook-deliveries/<int:pk>/replay/", views.DeliveryReplayView.as_view(), name="webhook-delivery-replay"),
    *router.urls,
]
