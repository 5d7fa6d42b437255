"""The portal's settings plus the benchmark's baseline endpoint (bench/urls.py)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# The load comes from one client, 127.0.0.1: the limit is counted on every signup, as in
# production, but never reached.
SIGNUPS_PER_CLIENT_HOURLY = 10**9
