"""The Celery application: `celery -A bench.peers.celery_peer.celery_app worker`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.celery_peer.settings")

app = Celery("celery_peer")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["bench.peers.celery_peer"])
