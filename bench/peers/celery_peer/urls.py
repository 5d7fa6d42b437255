from django.urls import path

from bench.peers.celery_peer.views import signup

urlpatterns = [path("api/signups/", signup)]
