import functools
import ipaddress
import logging
import re

from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger(__name__)

# The client of a request whose address cannot be told (gunicorn on a unix socket without
# TRUSTED_PROXY_COUNT, say): all such requests share one client's limits, instead of none.
UNKNOWN_CLIENT = "0.0.0.0"  # noqa: S104 (an address no client has, not one to bind to)
# "203.0.113.7:5555" and "[2001:db8::1]:5555": the forms with a port some proxies write.
WITH_PORT = re.compile(r"^\[?(?P<address>[^\]]+?)\]?:\d+$")


def client_ip(request: HttpRequest) -> str:
    """The client's address: the peer's, or, behind TRUSTED_PROXY_COUNT proxies, the address
    the farthest of them saw (the entries before it in X-Forwarded-For are the client's to
    forge). Used for every per-client limit and in audit records; UNKNOWN_CLIENT when the peer
    has no address (a header entry that is not one falls back to the peer)."""
    peer = parse_address(request.META.get("REMOTE_ADDR", "")) or unknown_client()
    trusted = settings.TRUSTED_PROXY_COUNT
    if not trusted:
        return peer
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) < trusted:
        return peer
    return parse_address(hops[-trusted]) or peer


@functools.cache
def warn_of_unknown_clients() -> None:
    logger.warning(
        "a request came without a client address: per-client limits count all such requests"
        " as one client (%s); behind a proxy, set TRUSTED_PROXY_COUNT",
        UNKNOWN_CLIENT,
    )


def unknown_client() -> str:
    warn_of_unknown_clients()  # once per process
    return UNKNOWN_CLIENT


def parse_address(text: str) -> str | None:
    """The IP address in `text`, without a port; None if there is none."""
    if text.count(":") < 2 or text.startswith("["):  # IPv4 or bracketed IPv6: a port may follow
        text = match.group("address") if (match := WITH_PORT.match(text)) else text
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return None
