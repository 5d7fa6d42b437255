from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Counter",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key", models.CharField(max_length=255, unique=True)),
                ("window_start", models.DateTimeField()),
                (
                    "expires_at",
                    models.DateTimeField(db_index=True, help_text="When the window ends."),
                ),
                ("count", models.PositiveIntegerField()),
            ],
        ),
    ]
