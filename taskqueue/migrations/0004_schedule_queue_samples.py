from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

SCHEDULE_NAME = "sample-queue"


def create_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Each minute, for the status page's charts of queue depth and age."""
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "taskqueue.results.sample_queue",
            "schedule_type": "I",
            "minutes": 1,
            "repeats": -1,
            # No result is kept for a run that succeeds: 1,440 a day would say nothing.
            "kwargs": "q_options={'save': False}",
        },
    )


def delete_schedule(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("taskqueue", "0003_queue_samples"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
