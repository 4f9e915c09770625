"""What every sandbox partner shares: fault injection settings, and (ERPs, expense platforms) credentials."""

from __future__ import annotations

from django.db import models

from apps.core.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS


def amount_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, **kwargs)


class FaultSettings(models.Model):
    """Fault injection, settable by admins and tests (``apps.sandbox.faults``)."""

    latency_ms = models.PositiveIntegerField(default=0, help_text="Added to every answer.")
    error_rate = models.PositiveSmallIntegerField(default=0, help_text="Percent of requests answered HTTP 500.")
    timeout_seconds = models.PositiveIntegerField(default=0, help_text="Sleep this long before answering.")
    throttle_rate = models.PositiveSmallIntegerField(default=0, help_text="Percent of requests answered HTTP 429.")
    retry_after_seconds = models.PositiveIntegerField(default=30, help_text="Retry-After of 429 answers.")
    malformed_documents = models.BooleanField(
        default=False, help_text="Serve truncated downloads and payloads (cut in half); legacy ERPs write truncated "
                                 "export files.")
    outage_start = models.DateTimeField(null=True, blank=True)
    outage_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class SandboxPartner(FaultSettings):
    """An API partner with an API key and OAuth2 client credentials (stored Fernet-encrypted, like the bank's key)."""

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=140)
    credentials_ciphertext = models.BinaryField(
        editable=False, default=b"", help_text="API key and OAuth2 client id/secret, Fernet-encrypted.")
    token_ttl_seconds = models.PositiveIntegerField(default=3600, help_text="Lifetime of issued access tokens.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"
