import json

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.core.api.base import ActionAPIView, ReadOnlyViewSet
from apps.core.api.idempotency import IDEMPOTENCY_PARAMETER, IdempotentMixin
from apps.payments import selectors, services
from apps.payments.api.serializers import (
    BatchDetailSerializer,
    BatchInput,
    BatchSerializer,
    EmptyInput,
    FlagSerializer,
    PaymentReasonInput,
    ResendInput,
)
from apps.payments.filters import BatchFilter
from apps.payments.models import PaymentBatch


class PaymentBatchViewSet(IdempotentMixin, ReadOnlyViewSet):
    """Payment batches from the ERP. POST one (Idempotency-Key required) to submit it for approval."""

    queryset = PaymentBatch.objects.none()
    filterset_class = BatchFilter
    required_permission = {"POST": "payments.add_paymentbatch"}
    idempotency_required = True

    def get_queryset(self):
        qs = selectors.batch_list(user=self.request.user)
        return qs.prefetch_related("instructions__flags") if self.action == "retrieve" else qs

    def get_serializer_class(self):
        return BatchDetailSerializer if self.action == "retrieve" else BatchSerializer

    @extend_schema(request=BatchInput, responses={201: BatchDetailSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    def create(self, request):
        data = BatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        raw = json.dumps(request.data, sort_keys=True, default=str).encode()
        batch = services.payment_batch_receive(data=data.validated_data, source="api", actor=request.user, raw=raw)
        batch = selectors.batch_list(user=request.user).prefetch_related("instructions__flags").get(pk=batch.pk)
        return Response(BatchDetailSerializer(batch).data, status=201)


class _BatchAction(ActionAPIView):
    input_serializer = EmptyInput

    def post(self, request, pk: int):
        selectors.batch_list(user=request.user).get(pk=pk)  # 404 for batches the user may not see
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        batch = self.perform(request, pk, data.validated_data)
        return Response(BatchSerializer(batch).data)


class BatchApproveView(_BatchAction):
    required_permission = "payments.approve_paymentbatch"

    @extend_schema(request=EmptyInput, responses=BatchSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        return super().post(request, pk)

    def perform(self, request, pk, data):
        return services.payment_batch_approve(batch_id=pk, actor=request.user)


class BatchRejectView(_BatchAction):
    required_permission = "payments.approve_paymentbatch"
    input_serializer = PaymentReasonInput

    @extend_schema(request=PaymentReasonInput, responses=BatchSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        return super().post(request, pk)

    def perform(self, request, pk, data):
        return services.payment_batch_reject(batch_id=pk, actor=request.user, reason=data["reason"])


class BatchCancelView(_BatchAction):
    required_permission = "payments.view_paymentbatch"  # the service checks who may cancel
    input_serializer = PaymentReasonInput

    @extend_schema(request=PaymentReasonInput, responses=BatchSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        return super().post(request, pk)

    def perform(self, request, pk, data):
        return services.payment_batch_cancel(batch_id=pk, actor=request.user, reason=data["reason"])


class FlagClearView(ActionAPIView):
    required_permission = "payments.view_paymentflag"  # the service checks treasury / approver rights

    @extend_schema(request=PaymentReasonInput, responses=FlagSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        from apps.payments.models import PaymentFlag

        flag = PaymentFlag.objects.filter(
            pk=pk, instruction__batch__in=selectors.batch_list(user=request.user).values("pk")).first()
        if flag is None:
            from apps.core.errors import NotFound

            raise NotFound(f"Flag {pk} does not exist.")
        data = PaymentReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(FlagSerializer(services.payment_flag_clear(flag_id=pk, actor=request.user,
                                                                   reason=data.validated_data["reason"])).data)


def _visible_instruction(request, pk: int):
    from apps.core.errors import NotFound
    from apps.payments.models import PaymentInstruction

    instruction = PaymentInstruction.objects.filter(
        pk=pk, batch__in=selectors.batch_list(user=request.user).values("pk")).first()
    if instruction is None:
        raise NotFound(f"Payment instruction {pk} does not exist.")
    return instruction


class InstructionCancelView(ActionAPIView):
    """Give up a payment (before transmission, or after the bank rejected or returned it); the ERP is told."""

    required_permission = "payments.view_paymentinstruction"  # the service checks who may cancel

    @extend_schema(request=PaymentReasonInput, responses=BatchSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        instruction = _visible_instruction(request, pk)
        data = PaymentReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.payment_instruction_cancel(instruction_id=instruction.pk, actor=request.user,
                                            reason=data.validated_data["reason"])
        return Response(BatchSerializer(selectors.batch_list(user=request.user).get(pk=instruction.batch_id)).data)


class InstructionResendView(ActionAPIView):
    """Correct a rejected or returned payment and send it again in a new batch (new approval)."""

    required_permission = "payments.add_paymentbatch"

    @extend_schema(request=ResendInput, responses={201: BatchDetailSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        instruction = _visible_instruction(request, pk)
        data = ResendInput(data=request.data)
        data.is_valid(raise_exception=True)
        batch = services.payment_instruction_resend(instruction_id=instruction.pk, actor=request.user,
                                                    **data.validated_data)
        batch = selectors.batch_list(user=request.user).prefetch_related("instructions__flags").get(pk=batch.pk)
        return Response(BatchDetailSerializer(batch).data, status=201)
