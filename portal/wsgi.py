"""WSGI entry point, for gunicorn and other WSGI servers."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

application = get_wsgi_application()

from operations.checks import refuse_to_serve_without_static_files  # noqa: E402 - apps ready

refuse_to_serve_without_static_files()
