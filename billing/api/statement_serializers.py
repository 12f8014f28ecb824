"""Statements and credit notes in the management API (docs/billing.md)."""

from decimal import Decimal

from rest_framework import serializers

from billing.api.serializers import MONTH_RE
from billing.models import CreditNote, CreditNoteLine, Statement
from core.money import money_text


class StatementQuerySerializer(serializers.Serializer):
    month = serializers.RegexField(MONTH_RE, required=False, help_text="YYYY-MM")
    status = serializers.ChoiceField(choices=Statement.Status.choices, required=False)


class StatementDownloadQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["json", "csv", "pdf"], default="json")


class StatementSerializer(serializers.ModelSerializer):
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    total = serializers.SerializerMethodField()
    total_full_precision = serializers.SerializerMethodField()
    rounding_difference = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Statement
        fields = [
            "id",
            "number",
            "tenant",
            "month",
            "status",
            "currency",
            "period_start",
            "period_end",
            "grace_ends_at",
            "issued_at",
            "total",
            "total_full_precision",
            "rounding_difference",
            "counts",
            "checksum_sha256",
            "url",
            "download_url",
        ]
        read_only_fields = fields

    def _finalized(self, statement) -> bool:
        return statement.status == Statement.Status.FINALIZED

    def get_total(self, statement) -> str | None:
        return money_text(statement.total) if self._finalized(statement) else None

    def get_total_full_precision(self, statement) -> str | None:
        return money_text(statement.total_full) if self._finalized(statement) else None

    def get_rounding_difference(self, statement) -> str | None:
        return money_text(statement.rounding_difference) if self._finalized(statement) else None

    def get_url(self, statement) -> str:
        return f"/api/v1/statements/{statement.pk}/"

    def get_download_url(self, statement) -> str:
        return f"/api/v1/statements/{statement.pk}/download/"


class StatementLineDocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    position = serializers.IntegerField()
    kind = serializers.CharField()
    adjusts_month = serializers.CharField()
    description = serializers.CharField()
    model = serializers.CharField()
    provider = serializers.CharField()
    key_source = serializers.CharField()
    token_class = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.CharField(allow_null=True)
    unit = serializers.CharField()
    cost_usd = serializers.CharField()
    amount_full = serializers.CharField()
    amount = serializers.CharField()


class StatementDocumentSerializer(serializers.Serializer):
    """The statement document (for the schema; the view returns the service's dict)."""

    id = serializers.IntegerField()
    number = serializers.CharField(allow_null=True)
    tenant = serializers.CharField()
    header = serializers.DictField()
    month = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    grace_ends_at = serializers.DateTimeField()
    currency = serializers.CharField()
    status = serializers.CharField()
    draft = serializers.BooleanField()
    issued_at = serializers.DateTimeField(allow_null=True)
    markup_pct = serializers.CharField()
    rounding = serializers.CharField()
    lines = StatementLineDocumentSerializer(many=True)
    usage_cost_usd = serializers.CharField()
    total = serializers.CharField()
    total_full_precision = serializers.CharField()
    rounding_difference = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())
    daily_spend = serializers.ListField(child=serializers.DictField())
    checksum_sha256 = serializers.CharField(allow_null=True)
    credit_notes = serializers.ListField(child=serializers.DictField())


class CreditLineInputSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="A line id of the statement.")
    amount = serializers.DecimalField(
        max_digits=18, decimal_places=2, min_value=Decimal("0.01"), required=False
    )


class CreditNoteCreateSerializer(serializers.Serializer):
    statement = serializers.IntegerField()
    reason = serializers.CharField(max_length=500)
    amount = serializers.DecimalField(
        max_digits=18, decimal_places=2, min_value=Decimal("0.01"), required=False
    )
    lines = CreditLineInputSerializer(many=True, required=False)

    def validate(self, attrs):
        if ("amount" in attrs) == bool(attrs.get("lines")):
            raise serializers.ValidationError("Give either an amount or lines.")
        return attrs


class CreditNoteLineSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()

    class Meta:
        model = CreditNoteLine
        fields = ["statement_line", "description", "amount"]
        read_only_fields = fields

    def get_amount(self, line) -> str:
        return money_text(line.amount)


class CreditNoteSerializer(serializers.ModelSerializer):
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    statement_number = serializers.CharField(source="statement.number", read_only=True)
    total = serializers.SerializerMethodField()
    lines = CreditNoteLineSerializer(many=True, read_only=True)

    class Meta:
        model = CreditNote
        fields = [
            "id",
            "number",
            "tenant",
            "statement",
            "statement_number",
            "reason",
            "currency",
            "total",
            "issued_at",
            "lines",
        ]
        read_only_fields = fields

    def get_total(self, note) -> str:
        return money_text(note.total)
