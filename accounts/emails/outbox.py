"""Which email an account gets, handed to the mail server at most once.

Tasks are delivered at least once, so each email is recorded (EmailDelivery, unique per
Message-ID) and a redelivered task finds the record and sends nothing.
"""

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction

from accounts.emails import messages, smtp
from accounts.models import EmailDelivery, User
from accounts.transactions import savepoint_if_in_transaction

logger = logging.getLogger(__name__)

MessageFor = Callable[[User], EmailMultiAlternatives | None]

DATABASE_GONE = (OperationalError, InterfaceError)
# Seconds between the tries to record an email sent just before the database went away: a
# restart of a few seconds (7.5 in all) doubles nothing.
RECORD_RETRY_WAITS = (0.25, 0.5, 1, 2, 3.75)


def send_welcome(user_id: int) -> str:
    """With a link to set a password when the account was created without one."""
    return send_once("welcome email", user_id, EmailDelivery.Kind.WELCOME, messages.welcome_email)


def send_verification(user_id: int, request_id: str) -> str:
    """Only while the address is not verified yet."""

    def message_for(user: User) -> EmailMultiAlternatives | None:
        return None if user.is_email_verified else messages.verification_email(user, request_id)

    return send_once("verification email", user_id, EmailDelivery.Kind.VERIFICATION, message_for)


def send_password_reset(user_id: int, request_id: str) -> str:
    return send_once(
        "password reset email",
        user_id,
        EmailDelivery.Kind.PASSWORD_RESET,
        lambda user: messages.password_reset_email(user, request_id),
    )


def send_signup_attempt(user_id: int, request_id: str) -> str:
    return send_once(
        "signup attempt email",
        user_id,
        EmailDelivery.Kind.SIGNUP_ATTEMPT,
        lambda user: messages.signup_attempt_email(user, request_id),
    )


def send_once(what: str, user_id: int, kind: str, message_for: MessageFor) -> str:
    """Send the email `message_for` makes, unless one with its Message-ID was already sent.

    Where the database has row locks (PostgreSQL), the account's row stays locked while the
    email is handed over, so a concurrent second delivery of the task waits and then sees the
    first one's EmailDelivery row. The lock is FOR NO KEY UPDATE, which does not block rows that
    merely reference the account, such as the audit record written at the same time. SQLite has
    only a database-wide write lock, which must not be held for an SMTP conversation: there the
    check and the record bracket the send instead.
    `message_for` returns None when the email is no longer wanted.

    If the database goes away once the mail server has the email (a restart, a failover), the
    record is written again through a new connection for a few seconds: otherwise the task's
    next delivery would send the email a second time.
    """
    handed_over: list[str] = []
    try:
        return send_and_record(what, user_id, kind, message_for, handed_over)
    except DATABASE_GONE:
        if not handed_over:
            raise
        [message_id] = handed_over
        record_after_reconnecting(user_id, kind, message_id)
    logger.info("%s for account %s sent as %s", what, user_id, message_id)
    return f"sent {message_id}"


def send_and_record(
    what: str, user_id: int, kind: str, message_for: MessageFor, handed_over: list[str]
) -> str:
    """The send, bracketed by the check and the record; `handed_over` gets the Message-ID once
    the mail server has accepted the email."""
    with account_lock_scope():
        user = locked_account(user_id)
        if user is None:
            logger.warning("%s skipped: account %s no longer exists", what, user_id)
            return "account deleted"
        message = message_for(user)
        if message is None:
            logger.info("%s skipped for account %s: no longer needed", what, user_id)
            return "not needed"
        message_id = message.extra_headers["Message-ID"]
        if EmailDelivery.objects.filter(message_id=message_id).exists():
            logger.info("%s for account %s already sent as %s", what, user_id, message_id)
            return "already sent"
        started = time.monotonic()
        smtp.send(message)
        handed_over.append(message_id)
        record_delivery(user, kind, message_id, int((time.monotonic() - started) * 1000))
    logger.info("%s for account %s sent as %s", what, user_id, message_id)
    return f"sent {message_id}"


def record_after_reconnecting(user_id: int, kind: str, message_id: str) -> None:
    """Write the record of an email the mail server already has, on a new connection, waiting
    a little longer each time the database is still away (RECORD_RETRY_WAITS in all)."""
    for attempt, wait in enumerate(RECORD_RETRY_WAITS, start=1):
        time.sleep(wait)
        connection.close()
        try:
            EmailDelivery.objects.get_or_create(
                message_id=message_id, defaults={"user_id": user_id, "kind": kind}
            )
        except DATABASE_GONE:
            if attempt == len(RECORD_RETRY_WAITS):
                raise
            continue
        logger.warning("%s recorded after the database came back (try %s)", message_id, attempt)
        return


def account_lock_scope() -> AbstractContextManager[object]:
    return transaction.atomic() if connection.features.has_select_for_update else nullcontext()


def locked_account(user_id: int) -> User | None:
    accounts = User.objects.filter(pk=user_id)
    if connection.features.has_select_for_update:
        accounts = accounts.select_for_update(no_key=True)
    return accounts.first()


def record_delivery(user: User, kind: str, message_id: str, handover_ms: int) -> None:
    """Where the account is locked (PostgreSQL) no other delivery can have recorded this email
    meanwhile. Without row locks one can, and the unique Message-ID turns it away."""
    fields = {"user": user, "kind": kind, "message_id": message_id, "handover_ms": handover_ms}
    if connection.features.has_select_for_update:
        EmailDelivery.objects.create(**fields)
        return
    try:
        with savepoint_if_in_transaction():
            EmailDelivery.objects.create(**fields)
    except IntegrityError:
        logger.warning("%s to account %s was sent twice (same Message-ID)", message_id, user.pk)
