from apps.core.api.base import ReadOnlyViewSet
from apps.org import selectors
from apps.org.api import serializers
from apps.org.filters import BankAccountFilter, CounterpartyFilter, EntityFilter
from apps.org.models import BankAccount, BankPartner, Counterparty, LegalEntity


class EntityViewSet(ReadOnlyViewSet):
    queryset = LegalEntity.objects.none()
    serializer_class = serializers.EntitySerializer
    filterset_class = EntityFilter

    def get_queryset(self):
        return selectors.entity_list(user=self.request.user)


class BankPartnerViewSet(ReadOnlyViewSet):
    queryset = BankPartner.objects.none()
    serializer_class = serializers.BankPartnerSerializer
    filterset_fields = ["code", "channel", "active"]

    def get_queryset(self):
        return selectors.bank_partner_list(user=self.request.user)


class BankAccountViewSet(ReadOnlyViewSet):
    queryset = BankAccount.objects.none()
    serializer_class = serializers.BankAccountSerializer
    filterset_class = BankAccountFilter

    def get_queryset(self):
        return selectors.bank_account_list(user=self.request.user)


class CounterpartyViewSet(ReadOnlyViewSet):
    queryset = Counterparty.objects.none()
    serializer_class = serializers.CounterpartySerializer
    filterset_class = CounterpartyFilter

    def get_queryset(self):
        return selectors.counterparty_list(user=self.request.user)
