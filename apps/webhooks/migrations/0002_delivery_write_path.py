"""Cheaper writes on the delivery path: no index of their own on two foreign keys that composite indexes already
lead with, and room in the delivery table's pages so that claiming a batch (attempt counters and lease, no indexed
column) is a HOT update that touches no index."""

import django.db.models.deletion
from django.db import migrations, models

FILLFACTOR = 70


def _fillfactor(value: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            table = apps.get_model("webhooks", "WebhookDelivery")._meta.db_table
            schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} SET (fillfactor = {value})")

    return apply


class Migration(migrations.Migration):

    dependencies = [
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="deliveryattempt",
            name="delivery",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="attempts", to="webhooks.webhookdelivery"),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="subscription",
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="deliveries", to="webhooks.webhooksubscription"),
        ),
        migrations.RunPython(_fillfactor(FILLFACTOR), _fillfactor(100)),
    ]
