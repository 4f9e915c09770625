urlpatterns: list = []  # webhook subscriptions and deliveries API
