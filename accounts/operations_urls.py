from django.urls import path

from accounts import operations

app_name = "operations"

urlpatterns = [
    path("healthz", operations.healthz, name="healthz"),
    path("readyz", operations.readyz, name="readyz"),
    path("staff/status/", operations.status_page, name="status"),
    path("staff/status/requeue/", operations.requeue, name="requeue"),
]
