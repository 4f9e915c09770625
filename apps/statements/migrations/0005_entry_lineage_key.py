"""Entries: one foreign key where there were three, checked as rows are written; a byte-order natural key; no LIKE
index on end-to-end ids; the creation time set by the database (imports COPY rows without it).

On PostgreSQL an entry's (statement, bank account, raw document) must be one of the statements' (id, bank account,
raw document): one composite foreign key checks all three references, and that they agree, with one index probe
per row (three single-column keys cost three; imports COPY hundreds of thousands of rows). It and the detail_of key
are not deferrable: a deferred key queues a check per row until commit, and checking the queue early costs more
the longer it gets; the referenced rows always exist before an entry points at them. The natural key is a hex
digest: it compares byte by byte (collation "C"), not by the database's locale. SQLite, the embedded first-run
database, keeps the ORM's checks only.
"""

import django.db.models.deletion
import django.db.models.functions.datetime
from django.db import migrations, models

FORWARD = """
ALTER TABLE statements_statemententry ADD CONSTRAINT statement_entry_lineage
    FOREIGN KEY (statement_id, bank_account_id, raw_document_id)
    REFERENCES statements_statement (id, bank_account_id, raw_document_id);
ALTER TABLE statements_statemententry ADD CONSTRAINT statement_entry_detail_of
    FOREIGN KEY (detail_of_id) REFERENCES statements_statemententry (id);
ALTER TABLE statements_statemententry ALTER COLUMN natural_key TYPE varchar(64) COLLATE "C";
"""
BACKWARD = """
ALTER TABLE statements_statemententry DROP CONSTRAINT IF EXISTS statement_entry_lineage;
ALTER TABLE statements_statemententry DROP CONSTRAINT IF EXISTS statement_entry_detail_of;
ALTER TABLE statements_statemententry ALTER COLUMN natural_key TYPE varchar(64) COLLATE "default";
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
        ('org', '0005_fxrate_historicalfxrate'),
        ('statements', '0004_entrytransaction'),
    ]

    operations = [
        migrations.AlterField(
            model_name='statemententry',
            name='bank_account',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='statement_entries', to='org.bankaccount'),
        ),
        migrations.AlterField(
            model_name='statemententry',
            name='detail_of',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, help_text='A camt.054 notification detailing a batched booking: not money of its own', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='details', to='statements.statemententry'),
        ),
        migrations.AlterField(
            model_name='statemententry',
            name='end_to_end_id',
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AlterField(
            model_name='statemententry',
            name='raw_document',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.rawdocument'),
        ),
        migrations.AlterField(
            model_name='statemententry',
            name='statement',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='statements.statement'),
        ),
        migrations.AddIndex(
            model_name='statemententry',
            index=models.Index(fields=['end_to_end_id'], name='statement_entry_e2e'),
        ),
        migrations.AddConstraint(
            model_name='statement',
            constraint=models.UniqueConstraint(fields=('id', 'bank_account', 'raw_document'), name='statement_lineage'),
        ),
        migrations.AlterField(
            model_name='statemententry',
            name='created_at',
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), editable=False),
        ),
        migrations.RunPython(forwards, backwards),
    ]
