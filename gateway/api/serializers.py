"""Shapes of the route preview (POST /api/v1/route/preview/)."""

from rest_framework import serializers


class RoutePreviewRequestSerializer(serializers.Serializer):
    """An OpenAI chat request (only `model` is required for a preview)."""

    model = serializers.CharField(help_text="Catalog model id, 'auto' or a config name.")
    messages = serializers.ListField(child=serializers.DictField(), required=False)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    tools = serializers.ListField(child=serializers.DictField(), required=False)
    metadata = serializers.DictField(required=False)


class RoutePreviewSerializer(serializers.Serializer):
    model = serializers.CharField()
    provider = serializers.CharField()
    candidates = serializers.ListField(child=serializers.CharField())
    reason = serializers.CharField()
    rule_index = serializers.IntegerField(allow_null=True)
    config = serializers.CharField(allow_null=True)
    estimated_input_tokens = serializers.IntegerField()
    estimated_output_tokens = serializers.IntegerField()
    estimated_cost_usd = serializers.CharField()
    params = serializers.DictField()
    use_byok = serializers.BooleanField()
    cache_ttl_seconds = serializers.IntegerField()
    complexity = serializers.CharField()
    budget_used_pct = serializers.CharField(allow_null=True)
    hints = serializers.DictField()
