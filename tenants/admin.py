"""Admin for tenants, members, API keys and BYOK credentials, scoped by TenantScopedAdminMixin."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Model
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from tenants.admin_scoping import (
    OperatorOnlyAdminMixin,
    ScopedRelatedFilter,
    TenantScopedAdminMixin,
    is_operator,
    tenant_roles,
)
from tenants.forms import (
    ApiKeyForm,
    MemberInviteForm,
    MembershipForm,
    ProviderCredentialForm,
    TenantForm,
)
from tenants.models import Membership, ProviderCredential, Tenant, TenantApiKey
from tenants.services import api_key_create, api_key_revoke, credential_set, membership_set

User = get_user_model()


def _adopt(obj: Model, saved: Model) -> None:
    """Make the admin's unsaved instance the row a service saved, so logging and redirects work."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


# --- Operators' user and group pages, in the same theme ---------------------------------------

for _model in (User, Group):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(User)
class UserAdmin(OperatorOnlyAdminMixin, BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(OperatorOnlyAdminMixin, BaseGroupAdmin, ModelAdmin):
    pass


# --- Tenants and members -----------------------------------------------------------------------


_PLAN_FIELDS = ["allowed_providers", "allowed_models", "local_providers"]


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdminMixin, ModelAdmin):
    form = TenantForm
    tenant_lookup = "pk"
    tenant_can_add = False
    tenant_can_delete = False
    list_display = ["slug", "name", "timezone", "status", "markup_pct", "created_at"]
    list_filter = ["status"]
    search_fields = ["slug", "name"]

    def get_readonly_fields(self, request, obj=None):
        fields = ["created_at", "updated_at"] if obj else []
        if not is_operator(request):  # the plan is the operator's (README "Model access")
            fields = ["slug", "status", "markup_pct", *_PLAN_FIELDS, *fields]
        return fields


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdminMixin, ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", ("tenant", ScopedRelatedFilter)]
    search_fields = ["user__username", "user__email", "tenant__slug"]

    def _inviting(self, request, obj) -> bool:
        return obj is None and not is_operator(request)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = MemberInviteForm if self._inviting(request, obj) else MembershipForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if self._inviting(request, obj):
            return ["tenant", "username", "email", "password", "role"]
        return ["tenant", "user", "role", *(["created_at"] if obj else [])]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["created_at"] if is_operator(request) else ["user", "created_at"]

    def get_autocomplete_fields(self, request):
        return ["user"] if is_operator(request) else []

    def save_model(self, request, obj, form, change):
        if isinstance(form, MemberInviteForm):
            obj.user = form.member_user()
        self.assign_tenant(request, obj)
        _adopt(obj, membership_set(tenant=obj.tenant, user=obj.user, role=obj.role))

    def has_delete_permission(self, request, obj=None):
        if not super().has_delete_permission(request, obj):
            return False
        if obj is None or is_operator(request) or obj.role != Membership.Role.OWNER:
            return True
        # Only an owner removes an owner, and never the last one.
        other_owners = Membership.objects.filter(
            tenant_id=obj.tenant_id, role=Membership.Role.OWNER
        ).exclude(pk=obj.pk)
        is_owner = tenant_roles(request).get(obj.tenant_id) == Membership.Role.OWNER
        return is_owner and other_owners.exists()

    def delete_queryset(self, request, queryset):
        if not is_operator(request):
            queryset = queryset.exclude(role=Membership.Role.OWNER)
        super().delete_queryset(request, queryset)


# --- API keys ----------------------------------------------------------------------------------


class KeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            live = queryset.filter(revoked_at__isnull=True)
            return live.exclude(expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(TenantApiKey)
class TenantApiKeyAdmin(TenantScopedAdminMixin, ModelAdmin):
    """The secret exists only in the response to the add form; afterwards only its prefix."""

    form = ApiKeyForm
    tenant_can_delete = False  # revoke instead: usage keeps pointing at the key
    list_display = [
        "name",
        "tenant",
        "key_prefix",
        "scope_list",
        "status",
        "expires_at",
        "last_used_at",
        "created_at",
    ]
    list_filter = [("tenant", ScopedRelatedFilter), KeyStatusFilter]
    search_fields = ["name", "prefix"]
    actions = ["revoke_keys"]
    secret_template = "admin/tenants/tenantapikey/secret_once.html"

    def get_fields(self, request, obj=None):
        fields = ["tenant", "name", "scopes", "expires_at", "rpm_limit", "tpm_limit"]
        fields += ["allowed_models", "allowed_configs"]
        if obj is not None:
            fields += ["key_prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["key_prefix", "created_at", "created_by", "last_used_at", "revoked_at"]

    @admin.display(description="key")
    def key_prefix(self, obj: TenantApiKey) -> str:
        return f"{obj.prefix}…"

    @admin.display(description="scopes")
    def scope_list(self, obj: TenantApiKey) -> str:
        return ", ".join(obj.scopes or [])

    @admin.display(description="status")
    def status(self, obj: TenantApiKey) -> str:
        if obj.revoked_at is not None:
            return "revoked"
        if obj.expires_at is not None and obj.expires_at <= timezone.now():
            return "expired"
        return "active"

    def save_model(self, request, obj, form, change):
        self.assign_tenant(request, obj)
        if change:
            obj.save()
            return
        key, secret = api_key_create(
            tenant=obj.tenant,
            scopes=list(obj.scopes),
            name=obj.name,
            expires_at=obj.expires_at,
            rpm_limit=obj.rpm_limit,
            tpm_limit=obj.tpm_limit,
            created_by=request.user,
            allowed_models=obj.allowed_models,
            allowed_configs=obj.allowed_configs,
        )
        _adopt(obj, key)
        obj._one_time_secret = secret

    def response_add(self, request, obj, post_url_continue=None):
        """Show the secret on this one response, stored nowhere (no message, no session)."""
        secret = getattr(obj, "_one_time_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        del obj._one_time_secret
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Copy the new API key now",
            "key": obj,
            "secret": secret,
        }
        response = TemplateResponse(request, self.secret_template, context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_keys(self, request, queryset):
        revoked = 0
        for key in self.scope_queryset(request, queryset, manage=True).filter(
            revoked_at__isnull=True
        ):
            api_key_revoke(key=key)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)


# --- BYOK credentials --------------------------------------------------------------------------


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(TenantScopedAdminMixin, ModelAdmin):
    """Write-only keys: pages show provider, last 4 and audit fields, never key or ciphertext."""

    form = ProviderCredentialForm
    list_display = [
        "provider",
        "tenant",
        "key_hint",
        "base_url",
        "is_active",
        "created_at",
        "rotated_at",
        "rotated_by",
    ]
    list_filter = [("tenant", ScopedRelatedFilter), ("provider", ScopedRelatedFilter), "is_active"]
    search_fields = ["provider__slug", "tenant__slug", "base_url"]
    audit_fields = ["key_hint", "created_at", "created_by", "rotated_at", "rotated_by"]

    def get_fields(self, request, obj=None):
        fields = ["tenant", "provider", "api_key", "base_url", "is_active"]
        return fields + self.audit_fields if obj is not None else fields

    def get_readonly_fields(self, request, obj=None):
        return self.audit_fields if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and "provider" in form.base_fields:
            form.base_fields["provider"].disabled = True  # a key belongs to its provider
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "provider":
            kwargs["queryset"] = db_field.related_model.objects.filter(is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="key")
    def key_hint(self, obj: ProviderCredential) -> str:
        return format_html("<code>…{}</code>", obj.last4) if obj.last4 else "-"

    def save_model(self, request, obj, form, change):
        self.assign_tenant(request, obj)
        api_key = form.cleaned_data.get("api_key")
        if not api_key:
            obj.save(update_fields=["base_url", "is_active"])
            return
        credential = credential_set(
            tenant=obj.tenant,
            provider=obj.provider,
            api_key=api_key,
            base_url=obj.base_url,
            user=request.user,
        )
        if not obj.is_active:
            credential.is_active = False
            credential.save(update_fields=["is_active"])
        _adopt(obj, credential)
