app_name = "sandbox"

urlpatterns: list = []  # sandbox partner endpoints (bank, ERP, expense platform)
