from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.base import ActionAPIView, ReadOnlyViewSet
from apps.core.api.idempotency import IDEMPOTENCY_PARAMETER
from apps.core.errors import ValidationFailed
from apps.exceptions import selectors, services
from apps.exceptions.api.serializers import (
    AssignInput,
    CaseKindSerializer,
    CaseSerializer,
    DismissInput,
    ReasonInput,
    ReasonRequiredInput,
    TimelineEntrySerializer,
)
from apps.exceptions.filters import CaseFilter
from apps.exceptions.models import ExceptionCase
from apps.exceptions.registry import kinds

WORK = "exceptions.work_exceptioncase"


class CaseViewSet(ReadOnlyViewSet):
    """The exception queue: every failure a person must act on."""

    queryset = ExceptionCase.objects.none()
    serializer_class = CaseSerializer
    filterset_class = CaseFilter

    def get_queryset(self):
        return selectors.case_list(user=self.request.user)


class CaseHistoryView(APIView):
    required_permission = "exceptions.view_historicalexceptioncase"

    @extend_schema(responses=TimelineEntrySerializer(many=True))
    def get(self, request, pk: int):
        case = selectors.case_get(user=request.user, pk=pk)
        return Response(TimelineEntrySerializer(selectors.case_timeline(case=case), many=True).data)


class CaseKindListView(APIView):
    required_permission = "exceptions.view_exceptioncase"

    @extend_schema(responses=CaseKindSerializer(many=True))
    def get(self, request):
        return Response(CaseKindSerializer(kinds(), many=True).data)


class _CaseAction(ActionAPIView):
    required_permission = WORK
    input_serializer = ReasonInput

    def perform(self, request, pk: int, data: dict):
        raise NotImplementedError

    def post(self, request, pk: int):
        selectors.case_get(user=request.user, pk=pk)  # 404 for cases the user may not see
        serializer = self.input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        case = self.perform(request, pk, serializer.validated_data)
        return Response(CaseSerializer(case).data)


class CaseAssignView(_CaseAction):
    input_serializer = AssignInput

    @extend_schema(request=AssignInput, responses=CaseSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        return super().post(request, pk)

    def perform(self, request, pk, data):
        assignee = None
        if data["assignee"]:
            assignee = get_user_model().objects.filter(username=data["assignee"], is_active=True).first()
            if assignee is None:
                raise ValidationFailed(f"assignee: no active user {data['assignee']!r}.", {"field": "assignee"})
        return services.case_assign(case_id=pk, assignee=assignee, actor=request.user, reason=data["reason"])


class CaseStartView(_CaseAction):
    @extend_schema(request=ReasonInput, responses=CaseSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        return super().post(request, pk)

    def perform(self, request, pk, data):
        return services.case_start(case_id=pk, actor=request.user, reason=data["reason"])


class CaseRetryView(_CaseAction):
    @extend_schema(request=ReasonInput, responses=CaseSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        return super().post(request, pk)

    def perform(self, request, pk, data):
        return services.case_retry(case_id=pk, actor=request.user)


class CaseResolveView(_CaseAction):
    input_serializer = ReasonRequiredInput

    @extend_schema(request=ReasonRequiredInput, responses=CaseSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        return super().post(request, pk)

    def perform(self, request, pk, data):
        return services.case_resolve(
            case_id=pk, actor=request.user, reason=data["reason"], resolution=data["resolution"]
        )


class CaseDismissView(_CaseAction):
    input_serializer = DismissInput

    @extend_schema(request=DismissInput, responses=CaseSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        return super().post(request, pk)

    def perform(self, request, pk, data):
        return services.case_dismiss(case_id=pk, actor=request.user, reason=data["reason"])
