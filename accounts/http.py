from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The peer address; behind a proxy, configure it to set REMOTE_ADDR."""
    return request.META.get("REMOTE_ADDR") or None
