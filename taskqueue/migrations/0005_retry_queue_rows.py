"""Each note of a next attempt keeps the id of its task's queue row, so that a note whose row is
gone no longer counts as waiting. Notes made before learn it from the queue's payloads; those
whose task is no longer queued are deleted."""

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django_q.signing import BadSignature, SignedPackage


def find_queue_rows(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    retries = apps.get_model("taskqueue", "ScheduledRetry").objects
    waiting = set(retries.values_list("task_id", flat=True))
    if not waiting:
        return
    for queued in apps.get_model("django_q", "OrmQ").objects.all():
        try:
            task_id = SignedPackage.loads(queued.payload).get("id")
        except BadSignature:  # not ours to read; django-q2 will refuse it too
            continue
        if task_id in waiting:
            retries.filter(task_id=task_id).update(queue_row_id=queued.pk)
    retries.filter(queue_row_id__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("taskqueue", "0004_schedule_queue_samples"),
    ]

    operations = [
        migrations.AddField(
            model_name="scheduledretry",
            name="queue_row_id",
            field=models.BigIntegerField(null=True),
        ),
        migrations.RunPython(find_queue_rows, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="scheduledretry",
            name="queue_row_id",
            field=models.BigIntegerField(),
        ),
    ]
