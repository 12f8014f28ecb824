"""The audit trail: who created, changed or deleted which configuration object, and how.

Recorded from model signals of the registered models (tenants, members, API keys and BYOK
credentials here; routing configs and budgets by their apps' `ready()`), not by calls in each
view: every write path (the admin's save_model/delete_model, the API's services, commands,
bulk deletes) goes through `save()`/`delete()`, so none can forget to record, and the entry is
written in the write's own transaction (a rolled-back change leaves no entry).

Who: the request being served (bound by `AuditActorMiddleware`): its API key when the
management API authenticated one (DRF sets `auth` on the Django request), else its session
user; writes outside a request (commands, tasks) are `system`. Secrets are `"***"`.
"""

from __future__ import annotations

import contextvars
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save

from tenants.models import AuditEntry, Membership, ProviderCredential, Tenant, TenantApiKey

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.db.models import Model
    from django.http import HttpRequest

SECRET = "***"
_ALWAYS_IGNORED = frozenset({"id", "created_at", "updated_at", "last_used_at"})
_current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "tollgate_audit_request", default=None
)


@dataclass(frozen=True)
class AuditedModel:
    object_type: str
    secret_fields: frozenset[str] = frozenset()
    ignored_fields: frozenset[str] = frozenset()
    tenant_of: Callable[[Any], int | None] = field(default=lambda obj: obj.tenant_id)


_REGISTRY: dict[type, AuditedModel] = {}


class AuditActorMiddleware:
    """Binds the request to the audit trail for the duration of the view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    label: str
    via: str
    api_key_id: int | None = None


def current_actor() -> Actor:
    request = _current_request.get()
    if request is not None:
        auth = getattr(request, "auth", None)
        if isinstance(auth, TenantApiKey):
            return Actor(None, f"key {auth.prefix}… ({auth.name})", AuditEntry.Via.API_KEY, auth.pk)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return Actor(user.pk, user.get_username(), AuditEntry.Via.SESSION)
    return Actor(None, "", AuditEntry.Via.SYSTEM)


def audit_register(
    model: type[Model],
    *,
    object_type: str,
    secret_fields: tuple[str, ...] = (),
    ignored_fields: tuple[str, ...] = (),
    tenant_of: Callable[[Any], int | None] | None = None,
) -> None:
    """Record every create, change and delete of `model` (call once, from an AppConfig.ready)."""
    spec = AuditedModel(
        object_type=object_type,
        secret_fields=frozenset(secret_fields),
        ignored_fields=_ALWAYS_IGNORED | frozenset(ignored_fields),
        **({"tenant_of": tenant_of} if tenant_of else {}),
    )
    _REGISTRY[model] = spec
    uid = f"tollgate-audit-{model._meta.label_lower}"
    pre_save.connect(_before_save, sender=model, dispatch_uid=f"{uid}-pre")
    post_save.connect(_after_save, sender=model, dispatch_uid=f"{uid}-post")
    post_delete.connect(_after_delete, sender=model, dispatch_uid=f"{uid}-delete")


def audit_register_tenant_models() -> None:
    """The tenants app's own audited models (TenantsConfig.ready)."""
    audit_register(
        Tenant,
        object_type="tenant",
        secret_fields=("alert_webhook_secret",),
        tenant_of=lambda obj: obj.pk,
    )
    audit_register(Membership, object_type="membership")
    audit_register(TenantApiKey, object_type="api_key", secret_fields=("key_hash",))
    audit_register(ProviderCredential, object_type="credential", secret_fields=("encrypted_key",))


def _plain(value: Any) -> Any:
    """A JSON-safe copy (Decimal and datetimes as text, as the API writes them)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _values(instance: Model, spec: AuditedModel) -> dict[str, Any]:
    return {
        f.attname: f.value_from_object(instance)
        for f in instance._meta.concrete_fields
        if f.attname not in spec.ignored_fields and f.name not in spec.ignored_fields
    }


def _field_name(instance: Model, attname: str) -> str:
    """`tenant_id` -> `tenant`, as the API names fields."""
    for f in instance._meta.concrete_fields:
        if f.attname == attname:
            return f.name
    return attname


def _changes(
    instance: Model, spec: AuditedModel, old: dict[str, Any] | None, new: dict[str, Any]
) -> dict[str, list]:
    out: dict[str, list] = {}
    for attname, value in new.items():
        before = None if old is None else old.get(attname)
        if old is None and value in (None, "", [], {}):
            continue
        if old is not None and _plain(before) == _plain(value):
            continue
        name = _field_name(instance, attname)
        if attname in spec.secret_fields or name in spec.secret_fields:
            out[name] = [None if old is None or not before else SECRET, SECRET if value else None]
        else:
            out[name] = [_plain(before), _plain(value)]
    return out


def _before_save(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    spec = _REGISTRY.get(sender)
    if spec is None or raw or instance._state.adding or instance.pk is None:
        instance._audit_old = None
        return
    columns = list(_values(instance, spec))
    if update_fields is not None:
        wanted = set(update_fields)
        columns = [c for c in columns if c in wanted or _field_name(instance, c) in wanted]
    instance._audit_old = sender._base_manager.filter(pk=instance.pk).values(*columns).first()


def _after_save(sender, instance, created=False, raw=False, **kwargs) -> None:
    spec = _REGISTRY.get(sender)
    if spec is None or raw:
        return
    old = getattr(instance, "_audit_old", None)
    new = _values(instance, spec)
    if old is not None:
        new = {k: v for k, v in new.items() if k in old}
    changes = _changes(instance, spec, None if created else old, new)
    pending = getattr(instance, "_audit_entry", None)
    if not created and pending is not None and transaction.get_connection().in_atomic_block:
        # The same object saved again in the transaction that recorded it (a credential is
        # created, then encrypted under its own id; rotated, then switched off): one entry
        # with the first old and the last new values.
        _merge(pending, changes)
        return
    if not created and not changes:
        return
    action = AuditEntry.Action.CREATE if created else AuditEntry.Action.UPDATE
    instance._audit_entry = _record(instance, spec, action=action, changes=changes)


def _merge(entry: AuditEntry, changes: dict[str, list]) -> None:
    merged = dict(entry.changes)
    for name, (old, new) in changes.items():
        first = None if entry.action == AuditEntry.Action.CREATE else merged.get(name, [old])[0]
        merged[name] = [first, new]
        if entry.action == AuditEntry.Action.UPDATE and first == new and new != SECRET:
            del merged[name]
    entry.changes = merged
    entry.save(update_fields=["changes"])


def _after_delete(sender, instance, **kwargs) -> None:
    spec = _REGISTRY.get(sender)
    if spec is None:
        return
    _record(instance, spec, action=AuditEntry.Action.DELETE, changes={})


def _repr(instance: Model) -> str:
    """The object's label; a related row already gone in a cascade leaves the label empty."""
    try:
        return str(instance)[:200]
    except Exception:  # e.g. RelatedObjectDoesNotExist while a parent is being deleted
        return ""


def _record(instance: Model, spec: AuditedModel, *, action: str, changes: dict) -> AuditEntry:
    actor = current_actor()
    return AuditEntry.objects.create(
        tenant_ref=spec.tenant_of(instance),
        actor_ref=actor.user_id,
        actor=actor.label[:160],
        via=actor.via,
        api_key_ref=actor.api_key_id,
        action=action,
        object_type=spec.object_type,
        object_id=str(instance.pk),
        object_repr=_repr(instance),
        changes=changes,
    )
