from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

INDEX = "accounts_ormq_key_lock"


def tune_queue_table(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Serve the broker's dequeue from an index, and vacuum the queue table often.

    Every dequeue asks for `key = %s AND lock < now() LIMIT bulk`; django-q2 gives its table no
    index but the primary key, so each poll scanned the whole table, past claimed rows and (on
    PostgreSQL) past every deleted row that vacuum has not removed yet: the drain slowed down as
    it went. Each task inserts and deletes one row, so on PostgreSQL the table is vacuumed after
    a fixed number of dead rows rather than a fraction of a table that is nearly empty.
    """
    schema_editor.execute(f"CREATE INDEX {INDEX} ON django_q_ormq (key, lock)")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE django_q_ormq SET"
            " (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000)"
        )


def untune_queue_table(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute(f"DROP INDEX {INDEX}")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE django_q_ormq RESET"
            " (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_account_manager"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(tune_queue_table, untune_queue_table)]
