"""The lesson's FastAPI BackgroundTasks signup (shared/reference/after-response-tasks-lesson),
with the insert the portal does: an account row in SQLite (WAL, as the portal's), unique in any
letter case; the welcome email and the audit record run after the response, in this process.
Not durable: a crash or a restart loses the tasks not yet run.

    PEER_VAR_DIR=/tmp/x EMAIL_PORT=2525 uvicorn bench.peers.fastapi_app:app --port 8810
"""

import logging
import os
import smtplib
import sqlite3
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from fastapi import BackgroundTasks, FastAPI, HTTPException
from pydantic import BaseModel, EmailStr

logger = logging.getLogger(__name__)
DATABASE = Path(os.environ["PEER_VAR_DIR"]) / "fastapi-peer.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS account (
    id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL, email TEXT NOT NULL,
    date_joined TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS account_username_ci ON account (lower(username));
CREATE UNIQUE INDEX IF NOT EXISTS account_email_ci ON account (lower(email));
CREATE TABLE IF NOT EXISTS audit_record (
    id INTEGER PRIMARY KEY AUTOINCREMENT, account_id INTEGER NOT NULL UNIQUE REFERENCES account,
    source TEXT NOT NULL, recorded_at TEXT NOT NULL);
"""
local = threading.local()


def database() -> sqlite3.Connection:
    """One connection per thread (the event loop's, and the thread pool's for the tasks)."""
    if not hasattr(local, "database"):
        local.database = sqlite3.connect(DATABASE, timeout=20, isolation_level=None)
        local.database.execute("PRAGMA journal_mode=WAL")
        local.database.execute("PRAGMA synchronous=NORMAL")
        local.database.executescript(SCHEMA)
    return local.database


def smtp() -> smtplib.SMTP:
    if not hasattr(local, "smtp"):
        host, port = os.getenv("EMAIL_HOST", "127.0.0.1"), int(os.getenv("EMAIL_PORT", "25"))
        local.smtp = smtplib.SMTP(host, port)
    return local.smtp


def send_welcome_email(email: str, username: str) -> None:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "Welcome", "noreply@localhost", email
    message.set_content(f"Hello {username}, welcome!")
    try:
        smtp().send_message(message)
    except smtplib.SMTPException:  # a dropped connection: one new one
        del local.smtp
        smtp().send_message(message)


def log_signup_event(account_id: int) -> None:
    database().execute(
        "INSERT INTO audit_record (account_id, source, recorded_at) VALUES (?, 'api', ?)",
        (account_id, datetime.now(UTC).isoformat()),
    )


class SignupRequest(BaseModel):
    username: str
    email: EmailStr


app = FastAPI()


@app.post("/api/signups/", status_code=201)
async def signup(body: SignupRequest, tasks: BackgroundTasks) -> dict[str, str]:
    try:
        cursor = database().execute(
            "INSERT INTO account (username, email, date_joined) VALUES (?, ?, ?)",
            (body.username, body.email, datetime.now(UTC).isoformat()),
        )
    except sqlite3.IntegrityError:
        raise HTTPException(409, "Username or email taken") from None
    tasks.add_task(send_welcome_email, body.email, body.username)
    tasks.add_task(log_signup_event, cursor.lastrowid)
    return {"message": "Account created", "username": body.username}
