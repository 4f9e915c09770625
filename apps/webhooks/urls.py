from django.urls import path

from apps.webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.subscription_list, name="list"),
    path("new/", views.subscription_create, name="create"),
    path("<int:pk>/", views.subscription_detail, name="detail"),
    path("<int:pk>/rotate-secret/", views.subscription_rotate, name="rotate"),
    path("<int:pk>/toggle/", views.subscription_toggle, name="toggle"),
    path("deliveries/", views.delivery_list, name="deliveries"),
    path("deliveries/<int:pk>/", views.delivery_detail, name="delivery-detail"),
    path("deliveries/<int:pk>/replay/", views.delivery_replay, name="delivery-replay"),
]
