"""A deploy mistake is a start-up error with the command that fixes it, not a 500 on every page."""

from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages

MISSING_STATIC = (
    "Static files have not been collected: with DEBUG=False every page would answer 500. "
    "Run `python manage.py collectstatic --noinput` (once per release), then start again."
)


def static_files_missing() -> bool:
    storage = storages["staticfiles"]
    if settings.DEBUG or not isinstance(storage, ManifestFilesMixin):
        return False
    return not storage.exists(storage.manifest_name)


@register(deploy=True)
def check_static_files(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if static_files_missing():
        return [Error(MISSING_STATIC, id="operations.E001")]
    return []


def refuse_to_serve_without_static_files() -> None:
    """Called when the web server loads the portal (portal/wsgi.py)."""
    if static_files_missing():
        raise ImproperlyConfigured(MISSING_STATIC)
