"""DRF mixin that applies the Idempotency-Key rules (apps.core.idempotency) to a view's POSTs."""

import hashlib

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from apps.core.errors import ApplicationError
from apps.core.idempotency import (
    HEADER,
    Replay,
    fingerprint,
    idempotency_claim,
    idempotency_complete,
)

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Unique key per intended operation. Replaying the same key and body returns the first response.",
)


class _Replayed(Exception):
    def __init__(self, replay: Replay):
        self.replay = replay


def _request_fingerprint(request) -> str:
    if request.content_type.startswith("multipart/"):
        digest = hashlib.sha256()
        for key in sorted(request.data.keys()):
            if key in request.FILES:
                continue
            digest.update(f"{key}={request.data.getlist(key)!r};".encode())
        for key in sorted(request.FILES.keys()):
            for upload in request.FILES.getlist(key):
                digest.update(f"file:{key}:{upload.name}:".encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
        return digest.hexdigest()
    return fingerprint(request._request.body)


class IdempotentMixin:
    idempotency_required = False

    def initial(self, request, *args, **kwargs):
        self._idempotency_claim = None
        if request.method == "POST" and not request.content_type.startswith("multipart/"):
            request._request.body  # read and cache the raw body before the parsers consume the stream
        super().initial(request, *args, **kwargs)
        if request.method != "POST":
            return
        key = request.headers.get(HEADER)
        if not key:
            if self.idempotency_required:
                raise ApplicationError(f"The {HEADER} header is required on this endpoint.", {"header": HEADER})
            return
        body_digest = _request_fingerprint(request)
        result = idempotency_claim(
            user=request.user, key=key, method=request.method, path=request.path, body=body_digest.encode()
        )
        if isinstance(result, Replay):
            raise _Replayed(result)
        self._idempotency_claim = result

    def handle_exception(self, exc):
        if isinstance(exc, _Replayed):
            return Response(exc.replay.body, status=exc.replay.status, headers={"Idempotent-Replayed": "true"})
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        claim = getattr(self, "_idempotency_claim", None)
        if claim is not None:
            self._idempotency_claim = None
            idempotency_complete(claim, status=response.status_code, body=getattr(response, "data", None))
        return super().finalize_response(request, response, *args, **kwargs)
