from rest_framework import serializers

from apps.org.models import BankAccount, BankPartner, Counterparty, LegalEntity


class EntitySerializer(serializers.ModelSerializer):
    erp_connection = serializers.CharField(source="erp_connection.code", default=None, read_only=True)

    class Meta:
        model = LegalEntity
        fields = ["id", "code", "name", "country", "base_currency", "erp_connection", "active", "created_at",
                  "updated_at"]


class BankPartnerSerializer(serializers.ModelSerializer):
    class Meta:
        model = BankPartner
        fields = ["id", "code", "name", "bic", "statement_formats", "payment_format", "channel", "active"]


class BankAccountSerializer(serializers.ModelSerializer):
    entity = serializers.CharField(source="entity.code")
    bank = serializers.CharField(source="bank.code")

    class Meta:
        model = BankAccount
        fields = ["id", "entity", "bank", "iban", "account_number", "routing_code", "currency", "name", "active"]


class CounterpartySerializer(serializers.ModelSerializer):
    entity = serializers.CharField(source="entity.code")

    class Meta:
        model = Counterparty
        fields = ["id", "entity", "kind", "code", "name", "country", "iban", "bic", "account_number",
                  "routing_code", "bank_details_changed_at", "active"]
