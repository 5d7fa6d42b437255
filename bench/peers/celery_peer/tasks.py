import contextlib

from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError

from bench.peers.celery_peer.celery_app import app
from bench.peers.celery_peer.models import Account, AuditRecord

_smtp: BaseEmailBackend | None = None


def smtp() -> BaseEmailBackend:
    """One SMTP connection per worker process, kept open, as the portal's workers do."""
    global _smtp
    if _smtp is None:
        _smtp = get_connection()
        _smtp.open()
    return _smtp


@app.task
def send_welcome_email(account_id: int) -> None:
    account = Account.objects.get(pk=account_id)
    message = EmailMessage(
        "Welcome", f"Hello {account.username}, welcome!", to=[account.email], connection=smtp()
    )
    try:
        message.send()
    except OSError:  # a dropped connection: one new one
        global _smtp
        _smtp = None
        message.connection = smtp()
        message.send()


@app.task
def record_signup(account_id: int, source: str) -> None:
    with contextlib.suppress(IntegrityError):  # delivered twice
        AuditRecord.objects.create(account_id=account_id, source=source)
