app_name = "payments"

urlpatterns: list = []  # console pages (batches, approvals inbox) are added here
