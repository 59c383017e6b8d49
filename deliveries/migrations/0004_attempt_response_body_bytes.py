"""DeliveryAttempt.response_body: text -> bytes (issue 10, item 1).

The column keeps its name; existing bodies are kept as their UTF-8 bytes.
PostgreSQL converts in place (`convert_to`, not a `::bytea` cast, which would
read backslashes as escapes); SQLite is rebuilt by Django and its old text
values turned into blobs.
"""

from django.db import migrations, models

TABLE = "deliveries_deliveryattempt"


def to_bytes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE {TABLE} ALTER COLUMN response_body TYPE bytea"
            " USING convert_to(response_body, 'UTF8')"
        )
        return
    model = apps.get_model("deliveries", "DeliveryAttempt")
    old = models.TextField(blank=True)
    old.set_attributes_from_name("response_body")
    new = models.BinaryField(blank=True, default=b"")
    new.set_attributes_from_name("response_body")
    schema_editor.alter_field(model, old, new)
    schema_editor.execute(
        f"UPDATE {TABLE} SET response_body = CAST(response_body AS BLOB)"
        " WHERE typeof(response_body) = 'text'"
    )


def to_text(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # Lossless for any bytes: non-UTF-8 bodies come back escaped.
        schema_editor.execute(
            f"ALTER TABLE {TABLE} ALTER COLUMN response_body TYPE text"
            " USING encode(response_body, 'escape')"
        )
        return
    model = apps.get_model("deliveries", "DeliveryAttempt")
    old = models.BinaryField(blank=True, default=b"")
    old.set_attributes_from_name("response_body")
    new = models.TextField(blank=True)
    new.set_attributes_from_name("response_body")
    schema_editor.alter_field(model, old, new)


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0003_event_data_json"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="deliveryattempt",
                    name="response_body",
                    field=models.BinaryField(
                        blank=True,
                        default=b"",
                        help_text="As received, capped at WEBHOOK_RESPONSE_BODY_MAX.",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(to_bytes, to_text)],
        ),
    ]
