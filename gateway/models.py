"""The request path's own rows: the similarity cache's stored answers."""

from django.db import models


class SemanticCacheEntry(models.Model):
    """One answer the similarity cache may serve again: the prompt's embedding (float32, as
    bytes, normalised to unit length) and the answer as the exact cache stores it. Found only
    within its tenant, config, embedding model and parameters hash; bounded per config in count
    and time (gateway/services/similarity_store.py)."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="semantic_cache_entries"
    )
    config = models.ForeignKey(
        "llm.RoutingConfig", on_delete=models.CASCADE, related_name="semantic_cache_entries"
    )
    embedding_model = models.CharField(max_length=260)
    params_hash = models.CharField(max_length=64)
    embedding = models.BinaryField()
    answer = models.JSONField()  # {"body", "model", "provider", "key_source", "cost_usd"}
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "config", "id"], name="semcache_scope_id"),
            models.Index(fields=["expires_at"], name="semcache_expires"),
        ]
        verbose_name = "semantic cache entry"
        verbose_name_plural = "semantic cache entries"

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.config_id}/{self.pk}"
