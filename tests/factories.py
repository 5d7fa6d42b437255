from accounts.models import User
from accounts.services import sign_up

STRONG_PASSWORD = "correct-horse-battery-staple"


def signup(username: str = "alice", email: str | None = None, **overrides: object) -> User:
    fields: dict = {
        "username": username,
        "email": f"{username}@example.com" if email is None else email,
        "password": STRONG_PASSWORD,
        "source": "api",
        "ip_address": "127.0.0.1",
    }
    fields.update(overrides)
    return sign_up(**fields)
