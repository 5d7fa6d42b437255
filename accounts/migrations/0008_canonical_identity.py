"""Usernames compared by a stored key (NFKC, then case folded), emails stored in canonical form.

Existing rows are brought forward; where two of them become the same, the later one is left as
it was and reported, never merged or dropped: an operator decides (docs/security.md).
"""

import unicodedata

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from email_validator import EmailNotValidError, validate_email


def key_of(username: str) -> str:
    folded = unicodedata.normalize("NFKC", username).casefold()
    return unicodedata.normalize("NFKC", folded)


def canonicalise(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    User = apps.get_model("accounts", "User")
    keys: dict[str, int] = {}
    emails: dict[str, int] = {}
    for user in User.objects.order_by("pk"):
        key = key_of(user.username)
        if key in keys:
            report(
                f"username {user.username!r} of account {user.pk} is the same as account "
                f"{keys[key]}'s; it can log in only once an operator renames it"
            )
            key = f"{key}#{user.pk}"
        keys[key] = user.pk
        email = user.email
        try:
            email = validate_email(
                user.email, check_deliverability=False, allow_smtputf8=False
            ).normalized
        except EmailNotValidError as exc:
            report(f"email of account {user.pk} left as it was, it is not valid now: {exc}")
        if email.lower() in emails and emails[email.lower()] != user.pk:
            report(
                f"email of account {user.pk} left as it was: in canonical form it is "
                f"account {emails[email.lower()]}'s"
            )
            email = user.email
        emails[email.lower()] = user.pk
        User.objects.filter(pk=user.pk).update(username_key=key, email=email)


def report(message: str) -> None:
    print(f"\n  accounts 0008: {message}")  # noqa: T201 - shown by `migrate`


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_queue_table_index")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="username_key",
            field=models.CharField(editable=False, max_length=150, null=True),
        ),
        migrations.RunPython(canonicalise, migrations.RunPython.noop),
    ]
