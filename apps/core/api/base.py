"""Base classes every API module builds on."""

from rest_framework import serializers, viewsets
from rest_framework.views import APIView

from apps.core.api.idempotency import IdempotentMixin


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not know (a typo is an error, not silently ignored)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class ActionAPIView(IdempotentMixin, APIView):
    """A POST endpoint that performs one action by calling one service."""


class ReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    """List/detail endpoints; ``get_queryset`` must call a selector that filters by the user."""
