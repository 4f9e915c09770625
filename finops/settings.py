"""FinOps Console settings, read from the environment.

Nothing set at all gives the *embedded* default a newcomer needs for a first run: a SQLite file under ``var/``,
Celery tasks run in-process (eager, no broker), a local-memory cache. Set ``FINOPS_ENV=production`` for a real
deployment: it refuses to start without a real ``SECRET_KEY`` and turns on every ``check --deploy`` setting.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FINOPS_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true/false).")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


FINOPS_ENV = os.environ.get("FINOPS_ENV", "dev")
if FINOPS_ENV not in {"dev", "test", "production"}:
    raise ImproperlyConfigured(f"FINOPS_ENV={FINOPS_ENV!r}: expected dev, test or production.")
PRODUCTION = FINOPS_ENV == "production"

_DEV_SECRET = "django-insecure-finops-dev-only-never-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "" if PRODUCTION else _DEV_SECRET)
if PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure") or len(set(SECRET_KEY)) < 5):
    raise ImproperlyConfigured(
        "FINOPS_ENV=production needs SECRET_KEY: at least 50 random characters, not the development key. "
        'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(64))"'
    )

DEBUG = env_bool("FINOPS_DEBUG", default=False)  # never show tracebacks unless a developer asks
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_filters",
    "simple_history",
    "guardian",
    "django_htmx",
    "django_celery_beat",
    "apps.core",
    "apps.org",
    "apps.exceptions",
    "apps.statements",
    "apps.payments",
    "apps.expenses",
    "apps.connectors",
    "apps.webhooks",
    "apps.sandbox",
    "apps.console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
]

ROOT_URLCONF = "finops.urls"
WSGI_APPLICATION = "finops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.console.context_processors.console",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'finops.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if os.environ.get("FINOPS_TEST_DB_NAME"):  # lets two checkouts run their suites on one server at once
    DATABASES["default"]["TEST"] = {"NAME": os.environ["FINOPS_TEST_DB_NAME"]}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
GUARDIAN_RAISE_403 = False
GUARDIAN_RENDER_403 = False
ANONYMOUS_USER_NAME = None  # no anonymous object permissions: everything is authenticated

LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "console:login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise serves from the finders; keep it quiet

# --- security -------------------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # HTMX reads the token from the page, not the cookie; kept readable for clarity
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if env_bool("SECURE_PROXY_SSL", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # SECURE_SSL_REDIRECT may be switched off behind a TLS-terminating proxy; say so rather than warn forever.
    SILENCED_SYSTEM_CHECKS = [] if SECURE_SSL_REDIRECT else ["security.W008"]

# --- REST API ---------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.core.api.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler.exception_handler",
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "COERCE_DECIMAL_TO_STRING": True,
    # Per-user request budget, counted in the cache (Redis when REDIS_URL is set, shared by every web process).
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": os.environ.get("FINOPS_API_RATE", "1200/min")},
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FinOps Console API",
    "DESCRIPTION": "Versioned REST API of the FinOps Console finance-operations hub. Every call is authenticated "
    "(session or `Authorization: Token ...`). POSTs that create or act accept an `Idempotency-Key` header.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Several models have a field called "status": name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "apps.exceptions.models.CaseStatus",
        "BatchStatusEnum": "apps.payments.models.BatchStatus",
        "InstructionStatusEnum": "apps.payments.models.InstructionStatus",
        "PaymentFileStatusEnum": "apps.payments.models.PaymentFile.Status",
        "ImportRunStatusEnum": "apps.statements.models.ImportRun.Status",
        "EntryStatusEnum": "apps.statements.models.EntryStatus",
        "SyncRunStatusEnum": "apps.connectors.models.SyncRun.Status",
        "DeliveryStatusEnum": "apps.webhooks.models.DeliveryStatus",
        "ExpenseReportStatusEnum": "apps.expenses.models.ReportStatus",
        "JournalStatusEnum": "apps.expenses.models.JournalStatus",
    },
}

# --- Celery -----------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "apps.core.tasks.*": {"queue": "events"},
    "apps.connectors.tasks.*": {"queue": "connectors"},
    "apps.statements.tasks.*": {"queue": "statements"},
    "apps.webhooks.tasks.*": {"queue": "events"},
    "apps.payments.tasks.*": {"queue": "payments"},
    "apps.expenses.tasks.*": {"queue": "expenses"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "outbox-relay": {"task": "apps.core.tasks.outbox_relay_task", "schedule": timedelta(seconds=10)},
    "idempotency-purge": {"task": "apps.core.tasks.idempotency_purge_task", "schedule": timedelta(hours=1)},
    "cases-sla-check": {"task": "apps.exceptions.tasks.case_sla_check_task", "schedule": timedelta(minutes=5)},
    "webhooks-due": {"task": "apps.webhooks.tasks.webhook_deliveries_due_task", "schedule": timedelta(seconds=30)},
    "webhooks-health": {"task": "apps.webhooks.tasks.webhook_health_check_task", "schedule": timedelta(minutes=5)},
    "payments-erp-due": {"task": "apps.payments.tasks.erp_exchange_due_task", "schedule": timedelta(minutes=1)},
    "expense-postings-resume": {"task": "apps.expenses.tasks.expense_postings_resume_task",
                                "schedule": timedelta(minutes=5)},
    "expense-reimbursements": {"task": "apps.expenses.tasks.expense_reimbursements_create_task",
                               "schedule": timedelta(hours=1)},
}

# --- FinOps -----------------------------------------------------------------------------------------------------
FINOPS_IDEMPOTENCY_TTL = timedelta(hours=int(os.environ.get("FINOPS_IDEMPOTENCY_TTL_HOURS", "24")))
FINOPS_IDEMPOTENCY_IN_FLIGHT_TIMEOUT = timedelta(minutes=5)
MEDIA_ROOT = Path(os.environ.get("FINOPS_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"  # never served directly: raw documents are downloaded through permission-checked views

# Connection credentials are encrypted at rest (Fernet). Production needs its own key; see README.
FINOPS_CREDENTIALS_KEY = os.environ.get("FINOPS_CREDENTIALS_KEY", "")
if PRODUCTION and not FINOPS_CREDENTIALS_KEY:
    raise ImproperlyConfigured(
        "FINOPS_ENV=production needs FINOPS_CREDENTIALS_KEY (a Fernet key) to encrypt connection credentials. "
        'Generate one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "celery.app.trace": {"level": "WARNING"}},
}
