"""On PostgreSQL a journal is balanced or it does not commit: a deferred constraint trigger checks, at commit,
that each touched journal's debits equal its credits. (SQLite has no deferred triggers; the service checks the same
rule before a journal leaves, see apps.expenses.services._check_balanced.)"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION expenses_journal_balanced() RETURNS trigger AS $$
DECLARE
    jid bigint;
    debits numeric;
    credits numeric;
BEGIN
    IF TG_OP = 'DELETE' THEN jid := OLD.journal_id; ELSE jid := NEW.journal_id; END IF;
    IF NOT EXISTS (SELECT 1 FROM expenses_journal WHERE id = jid) THEN
        RETURN NULL;  -- the journal itself was deleted with its lines
    END IF;
    SELECT COALESCE(SUM(debit), 0), COALESCE(SUM(credit), 0) INTO debits, credits
      FROM expenses_journalline WHERE journal_id = jid;
    IF debits <> credits THEN
        RAISE EXCEPTION 'journal % is not balanced: debits %, credits %', jid, debits, credits
              USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER expenses_journal_balanced
    AFTER INSERT OR UPDATE OR DELETE ON expenses_journalline
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION expenses_journal_balanced();
"""
DROP = """
DROP TRIGGER IF EXISTS expenses_journal_balanced ON expenses_journalline;
DROP FUNCTION IF EXISTS expenses_journal_balanced();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(CREATE)  # no parameters: the % in RAISE is plpgsql's, not a placeholder


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("expenses", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
