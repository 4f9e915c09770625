from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.core.api.base import ActionAPIView, ReadOnlyViewSet
from apps.core.api.idempotency import IDEMPOTENCY_PARAMETER, IdempotentMixin
from apps.core.idempotency import idempotency_complete
from apps.webhooks import selectors, services
from apps.webhooks.api.serializers import (
    DeliveryDetailSerializer,
    DeliverySerializer,
    WebhookReasonInput,
    SubscriptionCreateInput,
    SubscriptionSerializer,
    SubscriptionUpdateInput,
    SubscriptionWithSecretSerializer,
)
from apps.webhooks.filters import DeliveryFilter, SubscriptionFilter
from apps.webhooks.models import WebhookDelivery, WebhookSubscription

ADD = "webhooks.add_webhooksubscription"
CHANGE = "webhooks.change_webhooksubscription"
REPLAY = "webhooks.replay_webhookdelivery"
SECRET_NOT_KEPT = ("The secret is shown only in the first answer and is not kept for Idempotency-Key replays; "
                   "rotate it if it was lost.")


class _SecretOnce:
    """An answer carrying a secret is remembered for Idempotency-Key replays *without* the secret (the
    idempotency table is plain text), and is never cached."""

    def finalize_response(self, request, response, *args, **kwargs):
        claim = getattr(self, "_idempotency_claim", None)
        data = getattr(response, "data", None)
        if isinstance(data, dict) and data.get("secret"):
            response["Cache-Control"] = "no-store"
            if claim is not None:
                self._idempotency_claim = None
                idempotency_complete(claim, status=response.status_code,
                                     body={**data, "secret": None, "secret_note": SECRET_NOT_KEPT})
        return super().finalize_response(request, response, *args, **kwargs)


def _with_secret(sub: WebhookSubscription, secret: str) -> dict:
    sub.secret = secret
    return SubscriptionWithSecretSerializer(sub).data


@method_decorator(never_cache, name="dispatch")
class WebhookSubscriptionViewSet(_SecretOnce, IdempotentMixin, ReadOnlyViewSet):
    """Webhook subscriptions. The secret is returned once, by create (and by rotate-secret)."""

    queryset = WebhookSubscription.objects.none()
    serializer_class = SubscriptionSerializer
    filterset_class = SubscriptionFilter
    required_permission = {"POST": ADD, "PATCH": CHANGE}

    def get_queryset(self):
        return selectors.subscription_list(user=self.request.user)

    @extend_schema(request=SubscriptionCreateInput, responses={201: SubscriptionWithSecretSerializer},
                   parameters=[IDEMPOTENCY_PARAMETER])
    def create(self, request):
        data = SubscriptionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        sub, secret = services.webhook_subscription_create(
            name=v["name"], url=v["url"], event_types=v["event_types"], legal_entity_code=v["legal_entity"],
            active=v["active"], max_attempts=v["max_attempts"], reason=v["reason"], actor=request.user,
        )
        return Response(_with_secret(sub, secret), status=status.HTTP_201_CREATED)

    @extend_schema(request=SubscriptionUpdateInput, responses=SubscriptionSerializer)
    def partial_update(self, request, pk=None):
        self.get_object()  # 404 for what the user may not see
        data = SubscriptionUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        if "legal_entity" in v:
            v["legal_entity_code"] = v.pop("legal_entity")
        services.webhook_subscription_update(subscription_id=int(pk), actor=request.user, **v)
        return Response(SubscriptionSerializer(self.get_object()).data)


class _SubscriptionAction(ActionAPIView):
    required_permission = CHANGE

    def _visible(self, request, pk: int) -> WebhookSubscription:
        return selectors.subscription_get(user=request.user, pk=pk)


class SubscriptionRotateSecretView(_SecretOnce, _SubscriptionAction):
    @extend_schema(request=WebhookReasonInput, responses=SubscriptionWithSecretSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        self._visible(request, pk)
        data = WebhookReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        sub, secret = services.webhook_subscription_rotate_secret(subscription_id=pk, actor=request.user,
                                                                  reason=data.validated_data["reason"])
        return Response(_with_secret(sub, secret))


class _ToggleView(_SubscriptionAction):
    active = False

    @extend_schema(request=WebhookReasonInput, responses=SubscriptionSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        self._visible(request, pk)
        data = WebhookReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.webhook_subscription_set_active(subscription_id=pk, active=self.active, actor=request.user,
                                                 reason=data.validated_data["reason"])
        return Response(SubscriptionSerializer(self._visible(request, pk)).data)


class SubscriptionDeactivateView(_ToggleView):
    active = False


class SubscriptionActivateView(_ToggleView):
    active = True


class WebhookDeliveryViewSet(ReadOnlyViewSet):
    """One row per (subscription, event); the detail carries the event sent and every attempt."""

    queryset = WebhookDelivery.objects.none()
    serializer_class = DeliverySerializer
    filterset_class = DeliveryFilter

    def get_queryset(self):
        qs = selectors.delivery_list(user=self.request.user)
        return qs.prefetch_related("attempts") if self.action == "retrieve" else qs.defer("body")

    def get_serializer_class(self):
        return DeliveryDetailSerializer if self.action == "retrieve" else DeliverySerializer


class DeliveryReplayView(ActionAPIView):
    required_permission = REPLAY

    @extend_schema(request=WebhookReasonInput, responses={202: DeliveryDetailSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        selectors.delivery_get(user=request.user, pk=pk)
        data = WebhookReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.webhook_delivery_replay(delivery_id=pk, actor=request.user, reason=data.validated_data["reason"])
        delivery = selectors.delivery_list(user=request.user).prefetch_related("attempts").get(pk=pk)
        return Response(DeliveryDetailSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
