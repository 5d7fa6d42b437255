"""ASGI entry point, for uvicorn and other ASGI servers."""

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

END_OF_BODY = {"type": "http.request", "body": b"", "more_body": False}


class BodySizeLimit:
    """Stops reading a request body once it is declared, or found, larger than
    DATA_UPLOAD_MAX_MEMORY_SIZE, and gives Django an empty one declared at that length.

    Django's ASGI handler reads the whole body, spooling it to disk, before any middleware
    runs; under WSGI, portal.middleware.BodySizeLimitMiddleware refuses such a body unread.
    Here that middleware still answers (413: the API's JSON, a page for a form), going by the
    declared length, but the body is not read first. A body sent in chunks declares no length:
    it is read up to the limit, then declared at the length reached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if scope["type"] == "http" and limit is not None:
            receive = body_within(limit, scope, receive)
        await self.app(scope, receive, send)


def declared_length(scope: MutableMapping[str, Any]) -> int:
    """0 for none, or for one that is not a number (Django's middleware answers that)."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def body_within(limit: int, scope: MutableMapping[str, Any], receive: Receive) -> Receive:
    """The body as sent while it is within `limit`. Once it is declared or found larger, its
    end at once, declared at the length reached; after that end, nothing more (Django cancels
    its wait for a disconnect once it has answered), so the rest is never read."""
    received = 0
    ended = False

    async def receive_within() -> Message:
        nonlocal received, ended
        if ended:
            await asyncio.Future()
        if declared_length(scope) <= limit:
            message = await receive()
            if message["type"] != "http.request":
                return message
            received += len(message.get("body", b""))
            if received <= limit:
                return message
            scope["headers"] = [
                *((name, value) for name, value in scope["headers"] if name != b"content-length"),
                (b"content-length", str(received).encode()),
            ]
        ended = True
        return END_OF_BODY

    return receive_within


application = BodySizeLimit(get_asgi_application())
