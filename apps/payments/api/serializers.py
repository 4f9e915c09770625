from rest_framework import serializers

from apps.core.api.base import StrictSerializer
from apps.payments.models import Approval, PaymentBatch, PaymentFlag, PaymentInstruction


class AddressInput(StrictSerializer):
    street = serializers.CharField(required=False, allow_blank=True, max_length=70)
    building_number = serializers.CharField(required=False, allow_blank=True, max_length=16)
    postal_code = serializers.CharField(required=False, allow_blank=True, max_length=16)
    town = serializers.CharField(required=False, allow_blank=True, max_length=35)
    country = serializers.CharField(required=False, allow_blank=True, max_length=2)
    lines = serializers.ListField(child=serializers.CharField(max_length=70), required=False, max_length=2)

    def to_internal_value(self, data):
        # "postcode" is the spelling of the finops.payment_batch.v1 examples (docs/partner-documents.md): same field.
        if isinstance(data, dict) and "postcode" in data:
            data = dict(data)
            value = data.pop("postcode")
            if data.setdefault("postal_code", value) != value:
                raise serializers.ValidationError({"postcode": ["Differs from postal_code: give one of them."]})
        return super().to_internal_value(data)


class CreditorInput(StrictSerializer):
    name = serializers.CharField(max_length=140)
    iban = serializers.CharField(required=False, allow_blank=True, max_length=42)
    account_number = serializers.CharField(required=False, allow_blank=True, max_length=34)
    routing = serializers.CharField(required=False, allow_blank=True, max_length=20)
    bic = serializers.CharField(required=False, allow_blank=True, max_length=11)
    address = AddressInput(required=False)
    counterparty_ref = serializers.CharField(required=False, allow_blank=True, max_length=50)


class InstructionInput(StrictSerializer):
    end_to_end_id = serializers.RegexField(r"^[A-Za-z0-9/\-?:().,'+ ]{1,35}$", max_length=35)
    amount = serializers.CharField(max_length=30, help_text="Decimal string, e.g. \"1250.00\"")
    currency = serializers.RegexField(r"^[A-Z]{3}$")
    creditor = CreditorInput()
    remittance_information = serializers.CharField(required=False, allow_blank=True, max_length=140)
    purpose = serializers.CharField(required=False, allow_blank=True, max_length=4)
    erp_reference = serializers.CharField(required=False, allow_blank=True, max_length=100)


class BatchInput(StrictSerializer):
    entity = serializers.CharField(max_length=20)
    debtor_account = serializers.CharField(max_length=42, help_text="IBAN or bank account id")
    requested_execution_date = serializers.DateField()
    erp_reference = serializers.CharField(max_length=100)
    instructions = InstructionInput(many=True, allow_empty=False, max_length=100_000)


class FlagSerializer(serializers.ModelSerializer):
    cleared_by = serializers.CharField(source="cleared_by.username", default=None)

    class Meta:
        model = PaymentFlag
        fields = ["id", "kind", "field", "message", "holds", "cleared_by", "cleared_at", "created_at"]


class InstructionSerializer(serializers.ModelSerializer):
    flags = FlagSerializer(many=True, read_only=True)

    class Meta:
        model = PaymentInstruction
        fields = ["id", "position", "end_to_end_id", "amount", "currency", "creditor_name", "creditor_iban",
                  "creditor_account_number", "creditor_routing", "creditor_bic", "creditor_address",
                  "counterparty_ref", "remittance_information", "purpose", "erp_reference", "status", "bank_status",
                  "bank_reason_code", "flags"]


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")

    class Meta:
        model = Approval
        fields = ["approver", "content_sha256", "created_at", "voided_at", "void_reason"]


class BatchSerializer(serializers.ModelSerializer):
    entity = serializers.CharField(source="entity.code")
    debtor_account = serializers.CharField(source="debtor_account.identifier")
    created_by = serializers.CharField(source="created_by.username", default=None)
    approvals = ApprovalSerializer(many=True, read_only=True)

    class Meta:
        model = PaymentBatch
        fields = ["id", "entity", "debtor_account", "requested_execution_date", "execution_date_rolled_from",
                  "erp_reference", "source", "status", "currency", "total_amount", "instruction_count",
                  "content_sha256", "required_approvals", "required_roles", "approval_rules", "approvals",
                  "created_by", "created_at", "updated_at"]


class BatchDetailSerializer(BatchSerializer):
    instructions = InstructionSerializer(many=True, read_only=True)

    class Meta(BatchSerializer.Meta):
        fields = BatchSerializer.Meta.fields + ["instructions"]


class PaymentReasonInput(StrictSerializer):
    reason = serializers.CharField(max_length=2000)


class EmptyInput(StrictSerializer):
    pass


class ResendInput(StrictSerializer):
    reason = serializers.CharField(max_length=100)
    creditor_iban = serializers.CharField(required=False, max_length=42)
    creditor_bic = serializers.CharField(required=False, max_length=11)
    creditor_name = serializers.CharField(required=False, max_length=140)
    amount = serializers.CharField(required=False, max_length=30)
