app_name = "connectors"

urlpatterns: list = []  # console pages for connections and runs are added here
