"""Every API error is JSON ``{"message": ..., "extra": ...}`` with the right status; never a traceback."""

import logging

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from apps.core.context import current_request_id
from apps.core.errors import ApplicationError

logger = logging.getLogger("finops.api")


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            msg = _first_message(value)
            return msg if key == "non_field_errors" else f"{key}: {msg}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc, context):
    headers = {}
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "extra": exc.extra}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        exc = exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.APIException):
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        if isinstance(exc, exceptions.ValidationError):
            return Response(
                {"message": _first_message(exc.detail), "extra": {"fields": exc.detail}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response({"message": str(exc.detail), "extra": {}}, status=exc.status_code, headers=headers)
    logger.exception("unhandled error in API view %s", context.get("view").__class__.__name__)
    return Response(
        {"message": "Internal error. It has been logged; quote the request id to support.",
         "extra": {"request_id": current_request_id()}},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
