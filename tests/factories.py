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


def many_signups(count: int, prefix: str = "user") -> list[User]:
    """Accounts without passwords: no hashing, so hundreds are created in seconds."""
    return [signup(f"{prefix}{number}", password=None) for number in range(count)]
