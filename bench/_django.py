"""Shared set-up for the benchmarks: Django against PostgreSQL, in a database of their own (``<name>_bench``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/finops")
    if not url.startswith("postgres"):
        sys.exit("the benchmarks need PostgreSQL: set DATABASE_URL=postgres://...")
    base, _, name = url.rpartition("/")
    name = name.split("?")[0]
    return f"{base}/{name}" if name.endswith("_bench") else f"{base}/{name}_bench"


def setup_django() -> str:
    """Create and migrate the bench database, set Django up against it, return its URL."""
    url = bench_database_url()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("FINOPS_ENV", "test")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url
