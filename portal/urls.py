from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from portal.api import api
from portal.views import favicon

urlpatterns = [
    path("", include("accounts.urls")),
    path("", include("operations.urls")),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # The admin's own form checks the current password without the log-in limits; this one does.
    path(
        "admin/password_change/",
        RedirectView.as_view(pattern_name="accounts:password-change", query_string=True),
    ),
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon),
]

handler400 = "portal.views.bad_request"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"
