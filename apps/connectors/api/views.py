from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.connectors import selectors, services
from apps.connectors.api.serializers import (
    ConnectionSerializer,
    CredentialsInput,
    ConnectionReasonInput,
    RunInput,
    SyncRunSerializer,
)
from apps.connectors.filters import ConnectionFilter, SyncRunFilter
from apps.connectors.models import Connection, SyncRun
from apps.core.api.base import ActionAPIView, ReadOnlyViewSet
from apps.core.api.idempotency import IDEMPOTENCY_PARAMETER


class ConnectionViewSet(ReadOnlyViewSet):
    """Partner connections with their health. Credentials are never shown (``has_credentials`` only)."""

    queryset = Connection.objects.none()
    serializer_class = ConnectionSerializer
    filterset_class = ConnectionFilter

    def get_queryset(self):
        return selectors.connection_list(user=self.request.user)


class SyncRunViewSet(ReadOnlyViewSet):
    """One row per sync run: what moved, counts, errors (sanitised), attempts, fallback."""

    queryset = SyncRun.objects.none()
    serializer_class = SyncRunSerializer
    filterset_class = SyncRunFilter

    def get_queryset(self):
        return selectors.sync_run_list(user=self.request.user)


class _ConnectionAction(ActionAPIView):
    def _visible(self, request, pk: int) -> Connection:
        return selectors.connection_get(user=request.user, pk=pk)  # 404 for what the user may not see


class ConnectionRunView(_ConnectionAction):
    required_permission = "connectors.run_connection"

    @extend_schema(request=RunInput, responses={202: SyncRunSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        self._visible(request, pk)
        data = RunInput(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.connection_run_request(connection_id=pk, operation=data.validated_data["operation"],
                                              actor=request.user)
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ConnectionCredentialsView(_ConnectionAction):
    """Write-only: replaces the credentials. The answer says only that credentials are set."""

    required_permission = "connectors.change_connection"

    @extend_schema(request=CredentialsInput, responses=ConnectionSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        self._visible(request, pk)
        data = CredentialsInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.connection_credentials_replace(connection_id=pk, credentials=data.validated_data["credentials"],
                                                actor=request.user, reason=data.validated_data["reason"])
        return Response(ConnectionSerializer(self._visible(request, pk)).data)


class _ToggleView(_ConnectionAction):
    required_permission = "connectors.change_connection"
    active = True

    @extend_schema(request=ConnectionReasonInput, responses=ConnectionSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        self._visible(request, pk)
        data = ConnectionReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.connection_set_active(connection_id=pk, active=self.active, actor=request.user,
                                       reason=data.validated_data["reason"])
        return Response(ConnectionSerializer(self._visible(request, pk)).data)


class ConnectionEnableView(_ToggleView):
    active = True


class ConnectionDisableView(_ToggleView):
    active = False


class ConnectionCircuitResetView(_ConnectionAction):
    required_permission = "connectors.change_connection"

    @extend_schema(request=ConnectionReasonInput, responses=ConnectionSerializer, parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, request, pk: int):
        self._visible(request, pk)
        data = ConnectionReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.connection_circuit_reset(connection_id=pk, actor=request.user, reason=data.validated_data["reason"])
        return Response(ConnectionSerializer(self._visible(request, pk)).data)
