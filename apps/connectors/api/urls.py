urlpatterns: list = []  # connector API endpoints (connections, sync runs) are added here
