from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

SCHEDULE_NAME = "prune-rate-limit-counters"


def create_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Counters of windows that ended a day ago go: the table holds only recent clients."""
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "throttling.limits.prune_counters",
            "schedule_type": "H",
            "repeats": -1,
        },
    )


def delete_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("throttling", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
