from django.urls import path

from operations import views

app_name = "operations"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("staff/status/", views.status_page, name="status"),
    path("staff/status/requeue/", views.requeue, name="requeue"),
    path("staff/status/retry-now/", views.retry_now, name="retry-now"),
]
