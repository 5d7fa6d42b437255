from django.apps import AppConfig


class CeleryPeerConfig(AppConfig):
    name = "bench.peers.celery_peer"
    label = "celery_peer"
