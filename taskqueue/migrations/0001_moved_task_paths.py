"""Tasks already queued, scheduled or failed keep the dotted path of their function: those of
the two tasks that moved out of accounts.tasks are rewritten, so that none is lost in a deploy."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django_q.signing import BadSignature, SignedPackage

MOVED = {
    "accounts.tasks.deliver_webhook": "webhooks.delivery.deliver_webhook",
    "accounts.tasks.prune_task_results": "taskqueue.results.prune_task_results",
}


def rewrite(apps: Apps, paths: dict[str, str]) -> None:
    for model in ("Schedule", "Task"):
        manager = apps.get_model("django_q", model).objects
        for old, new in paths.items():
            manager.filter(func=old).update(func=new)
    for queued in apps.get_model("django_q", "OrmQ").objects.all():
        try:
            package = SignedPackage.loads(queued.payload)
        except BadSignature:  # not ours to read; django-q2 will refuse it too
            continue
        if package.get("func") in paths:
            package["func"] = paths[package["func"]]
            queued.payload = SignedPackage.dumps(package)
            queued.save(update_fields=["payload"])


def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    rewrite(apps, MOVED)


def backwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    rewrite(apps, {new: old for old, new in MOVED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_queue_table_index"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
