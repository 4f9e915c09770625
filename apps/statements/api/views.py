from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from apps.core.api.base import ReadOnlyViewSet
from apps.core.api.idempotency import IDEMPOTENCY_PARAMETER, IdempotentMixin
from apps.core.errors import ValidationFailed
from apps.statements import selectors
from apps.statements.api.serializers import (
    CashPositionSerializer,
    ImportRunSerializer,
    StatementEntrySerializer,
    StatementFileInput,
    StatementSerializer,
)
from apps.statements.filters import CashPositionFilter, EntryFilter, ImportRunFilter, StatementFilter
from apps.statements.models import CashPosition, CsvMapping, ImportRun, Statement, StatementEntry
from apps.statements.services import statement_file_import


class StatementFileViewSet(IdempotentMixin, ReadOnlyViewSet):
    """Bank files imported (one import run each). POST a file (multipart field ``file``, Idempotency-Key
    required) to import it; the answer is the import result, the same object as ``bank_import --json``."""

    queryset = ImportRun.objects.none()
    serializer_class = ImportRunSerializer
    filterset_class = ImportRunFilter
    required_permission = {"POST": "statements.add_importrun"}
    idempotency_required = True
    parser_classes = [MultiPartParser]  # the only body it takes is an uploaded file

    def get_queryset(self):
        return selectors.import_run_list(user=self.request.user)

    @extend_schema(request={"multipart/form-data": StatementFileInput}, parameters=[IDEMPOTENCY_PARAMETER],
                   responses={201: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT})
    def create(self, request):
        data = StatementFileInput(data=request.data)
        data.is_valid(raise_exception=True)
        mapping = None
        if data.validated_data["csv_mapping"]:
            mapping = CsvMapping.objects.filter(name=data.validated_data["csv_mapping"]).first()
            if mapping is None:
                raise ValidationFailed(f"csv_mapping: no CSV mapping named {data.validated_data['csv_mapping']!r}.",
                                       {"field": "csv_mapping"})
        upload = data.validated_data["file"]
        result = statement_file_import(
            content=upload, filename=upload.name, source="api",
            media_type=upload.content_type or "application/octet-stream",
            file_format=data.validated_data["format"], csv_mapping=mapping, actor=request.user,
        )
        return Response(result.as_json(), status=201 if result.status == ImportRun.Status.IMPORTED else 200)


class StatementViewSet(ReadOnlyViewSet):
    queryset = Statement.objects.none()
    serializer_class = StatementSerializer
    filterset_class = StatementFilter

    def get_queryset(self):
        return selectors.statement_list(user=self.request.user)


class StatementEntryViewSet(ReadOnlyViewSet):
    queryset = StatementEntry.objects.none()
    serializer_class = StatementEntrySerializer
    filterset_class = EntryFilter

    def get_queryset(self):
        return selectors.entry_list(user=self.request.user)


class CashPositionViewSet(ReadOnlyViewSet):
    queryset = CashPosition.objects.none()
    serializer_class = CashPositionSerializer
    filterset_class = CashPositionFilter

    def get_queryset(self):
        return selectors.cash_position_list(user=self.request.user)


