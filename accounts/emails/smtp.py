"""One mail server connection per worker process, reused from email to email.

Django's send() opens and closes an SMTP connection for every message: a connect, EHLO and QUIT
around each email, which the benchmark showed to be the largest part of a welcome task. Other
backends (development's files, the console) open nothing costly, and get a connection per
email (development's file backend, portal.mail, writes a file per email either way).
"""

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

_open: dict[tuple[object, ...], BaseEmailBackend] = {}


STALE = (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError)


def send(message: EmailMessage) -> None:
    """Send on this process's open connection. One the server dropped while it sat idle is
    replaced once; any other error (a refusal, a timeout, after which the server may have the
    email) is raised, for the task's retry to decide, and the next email starts afresh."""
    if not issubclass(import_string(settings.EMAIL_BACKEND), SmtpBackend):
        message.send()
        return
    key = (settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT)
    reused = key in _open
    try:
        send_on(connection_for(key), message)
    except STALE:
        close(key)
        if not reused:
            raise
        logger.info("mail server connection was stale; reconnecting")
        send_on(connection_for(key), message)
    except Exception:
        close(key)
        raise


def connection_for(key: tuple[object, ...]) -> BaseEmailBackend:
    if key not in _open:
        for other in list(_open):
            close(other)
        connection = get_connection()
        connection.open()
        _open[key] = connection
    return _open[key]


def send_on(connection: BaseEmailBackend, message: EmailMessage) -> None:
    message.connection = connection
    message.send()


def close(key: tuple[object, ...]) -> None:
    connection = _open.pop(key, None)
    if connection is not None:
        try:
            connection.close()
        except Exception:  # closing a broken connection may fail too; it is dropped either way
            logger.debug("closing the mail server connection failed", exc_info=True)


def close_all() -> None:
    for key in list(_open):
        close(key)
