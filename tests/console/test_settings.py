"""Production settings: refuse to start without a real SECRET_KEY; pass check --deploy with no warnings."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, **env):
    dropped = {"SECRET_KEY", "FINOPS_ENV", "FINOPS_DEBUG", "FINOPS_CREDENTIALS_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}  # the last: set by e2e tests
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_production_refuses_to_start_without_a_real_secret_key():
    missing = manage("check", FINOPS_ENV="production", ALLOWED_HOSTS="finops.example.com")
    assert missing.returncode != 0 and "needs SECRET_KEY" in missing.stderr
    dev_key = manage("check", FINOPS_ENV="production", ALLOWED_HOSTS="finops.example.com",
                     SECRET_KEY="django-insecure-finops-dev-only-never-use-in-production")
    assert dev_key.returncode != 0 and "needs SECRET_KEY" in dev_key.stderr


def test_production_refuses_to_start_without_a_credentials_key():
    result = manage("check", FINOPS_ENV="production", ALLOWED_HOSTS="finops.example.com",
                    SECRET_KEY=secrets.token_urlsafe(64))
    assert result.returncode != 0 and "needs FINOPS_CREDENTIALS_KEY" in result.stderr


def test_production_passes_check_deploy_with_no_warnings():
    from cryptography.fernet import Fernet

    result = manage("check", "--deploy", "--fail-level", "WARNING", FINOPS_ENV="production",
                    SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="finops.example.com",
                    FINOPS_CREDENTIALS_KEY=Fernet.generate_key().decode())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_is_off_unless_asked():
    from django.conf import settings

    assert settings.DEBUG is False
