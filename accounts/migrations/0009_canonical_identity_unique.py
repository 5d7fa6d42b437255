"""The username key unique, once 0008 filled it in (its own transaction: PostgreSQL refuses to
alter a table that the same transaction updated while foreign keys to it are deferred)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_canonical_identity")]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="username_key",
            field=models.CharField(
                editable=False,
                help_text="The username in the form that compares equal in any letter case.",
                max_length=150,
                unique=True,
            ),
        ),
        migrations.RemoveConstraint(model_name="user", name="accounts_user_username_ci_unique"),
        migrations.AlterField(
            model_name="user",
            name="email",
            field=models.EmailField(
                help_text="In canonical form (accounts.identity).",
                max_length=254,
                verbose_name="email address",
            ),
        ),
    ]
