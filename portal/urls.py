from django.contrib import admin
from django.urls import include, path

from accounts.api import api

urlpatterns = [
    path("", include("accounts.urls")),
    path("", include("accounts.operations_urls")),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
]

handler400 = "accounts.views.bad_request"
handler404 = "accounts.views.page_not_found"
handler500 = "accounts.views.server_error"
