import json

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.base import ActionAPIView, ReadOnlyViewSet
from apps.core.api.idempotency import IDEMPOTENCY_PARAMETER, IdempotentMixin
from apps.expenses import selectors, services
from apps.expenses.api.serializers import (
    ExpenseEmptyInput,
    ExpenseReasonInput,
    ExpenseReportDetailSerializer,
    ExpenseReportSerializer,
)
from apps.expenses.filters import ReportFilter
from apps.expenses.inputs import ExpenseReportInput
from apps.expenses.models import ExpenseReport
from apps.expenses.webhook import platform_webhook_receive


class ExpenseReportViewSet(IdempotentMixin, ReadOnlyViewSet):
    """Approved expense reports. Platforms that push POST one (Idempotency-Key required); the same platform +
    report id again answers 200 with the report already known, never a second posting."""

    queryset = ExpenseReport.objects.none()
    filterset_class = ReportFilter
    required_permission = {"POST": "expenses.add_expensereport"}
    idempotency_required = True

    def get_queryset(self):
        qs = selectors.report_list(user=self.request.user)
        return qs.prefetch_related("lines", "journals__lines") if self.action == "retrieve" else qs

    def get_serializer_class(self):
        return ExpenseReportDetailSerializer if self.action == "retrieve" else ExpenseReportSerializer

    @extend_schema(request=ExpenseReportInput, responses={201: ExpenseReportDetailSerializer,
                                                          200: ExpenseReportDetailSerializer},
                   parameters=[IDEMPOTENCY_PARAMETER])
    def create(self, request):
        raw = json.dumps(request.data, sort_keys=True, default=str).encode()
        report, created = services.expense_report_receive(payload=request.data, source="api", actor=request.user,
                                                          raw=raw)
        report = selectors.report_list(user=request.user).prefetch_related("lines", "journals__lines").get(pk=report.pk)
        return Response(ExpenseReportDetailSerializer(report).data, status=201 if created else 200)


class _ReportAction(ActionAPIView):
    input_serializer = ExpenseEmptyInput

    def post(self, request, pk: int):
        selectors.report_list(user=request.user).get(pk=pk)  # 404 for reports the user may not see
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = self.perform(request, pk, data.validated_data)
        return Response(ExpenseReportSerializer(report).data)


class RepostRequestView(_ReportAction):
    """Ask to post a report blocked by a closed period into the next open one (a second person approves)."""

    required_permission = "expenses.post_expensereport"
    input_serializer = ExpenseReasonInput

    @extend_schema(request=ExpenseReasonInput, responses=ExpenseReportSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        return super().post(request, pk)

    def perform(self, request, pk, data):
        return services.expense_report_repost_request(report_id=pk, actor=request.user, reason=data["reason"])


class RepostApproveView(_ReportAction):
    required_permission = "expenses.approve_repost"

    @extend_schema(request=ExpenseEmptyInput, responses=ExpenseReportSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        return super().post(request, pk)

    def perform(self, request, pk, data):
        return services.expense_report_repost_approve(report_id=pk, actor=request.user)


class RepostRejectView(_ReportAction):
    required_permission = "expenses.approve_repost"
    input_serializer = ExpenseReasonInput

    @extend_schema(request=ExpenseReasonInput, responses=ExpenseReportSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        return super().post(request, pk)

    def perform(self, request, pk, data):
        return services.expense_report_repost_reject(report_id=pk, actor=request.user, reason=data["reason"])


class PlatformWebhookView(APIView):
    """An expense platform pushes approved reports here. Authenticated by its HMAC-SHA256 signature over
    timestamp + body with the secret stored (encrypted) on the platform's connection; no session, no CSRF."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=ExpenseReportInput, responses={202: dict})
    def post(self, request, platform: str):
        outcome = platform_webhook_receive(platform=platform, body=request.body, headers=request.headers)
        return Response(outcome, status=202)
