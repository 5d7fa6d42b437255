"""Under an ASGI server: bodies larger than the limit are refused before they are read, as
under WSGI (portal.asgi.BodySizeLimit)."""

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from portal.asgi import application

LIMIT = 16_384
CHUNK = 4_096


@dataclass
class Exchange:
    """One request sent to the ASGI application in chunks, and what came back."""

    chunks_read: int = 0
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


def send_request(
    path: str,
    body: bytes,
    *,
    content_type: str = "application/json",
    declare_length: bool = True,
) -> Exchange:
    exchange = Exchange()
    chunks = [body[start : start + CHUNK] for start in range(0, len(body), CHUNK)] or [b""]
    headers = [(b"host", b"testserver"), (b"content-type", content_type.encode())]
    if declare_length:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        if exchange.chunks_read == len(chunks):
            await asyncio.Future()  # the client waits for its answer
        exchange.chunks_read += 1
        more = exchange.chunks_read < len(chunks)
        return {"type": "http.request", "body": chunks[exchange.chunks_read - 1], "more_body": more}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            exchange.status = message["status"]
            exchange.headers = {name.decode(): value.decode() for name, value in message["headers"]}
        else:
            exchange.body += message.get("body", b"")

    asyncio.run(application(scope, receive, send))
    return exchange


@pytest.fixture(autouse=True)
def body_limit(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    settings.SECURE_SSL_REDIRECT = False


def test_a_body_declared_too_large_is_refused_unread() -> None:
    exchange = send_request("/api/signups/", b"x" * 10 * LIMIT)
    assert exchange.status == 413
    assert exchange.json()["code"] == "body_too_large"
    assert exchange.chunks_read == 0


def test_a_body_sent_in_chunks_is_read_only_up_to_the_limit() -> None:
    exchange = send_request("/api/signups/", b"x" * 10 * LIMIT, declare_length=False)
    assert exchange.status == 413
    assert exchange.json()["code"] == "body_too_large"
    assert exchange.chunks_read == LIMIT // CHUNK + 1


def test_a_file_sent_to_a_form_gets_the_page_that_says_it_was_too_large() -> None:
    exchange = send_request(
        "/login/", b"x" * 10 * LIMIT, content_type="multipart/form-data; boundary=b"
    )
    assert exchange.status == 413
    assert "This form was too large to send" in exchange.body.decode()
    assert exchange.chunks_read == 0


def test_a_body_within_the_limit_reaches_the_api_whole() -> None:
    padding = " " * (LIMIT - 100)  # several chunks, all read
    exchange = send_request("/api/signups/", f'{{"username": "alice"{padding}}}'.encode())
    assert exchange.status == 422
    assert exchange.json()["field"] == "email"
