app_name = "webhooks"

urlpatterns: list = []  # console pages for webhook subscriptions and deliveries
