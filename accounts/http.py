import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: the peer's, or, behind TRUSTED_PROXY_COUNT proxies, the address
    the farthest of them saw (the entries before it in X-Forwarded-For are the client's to
    forge). Used for every per-client limit and in audit records."""
    peer = request.META.get("REMOTE_ADDR") or None
    trusted = settings.TRUSTED_PROXY_COUNT
    if not trusted:
        return peer
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) < trusted:
        return peer
    try:
        return str(ipaddress.ip_address(hops[-trusted]))
    except ValueError:
        return peer
