"""Tenant scoping for the admin: one place that decides what a staff user may see and do.

Operators are superusers and see everything. Everyone else acts through memberships: owners and
admins manage their tenants' objects, viewers only read them, and nothing of another tenant is
ever listed, offered in a dropdown or filter, or found by URL (a 404, not a 403, so the admin
does not even confirm that an id exists). Permissions come from the membership role, not from
Django model permissions, so a tenant admin works without hand-assigned permissions.
"""

from django.contrib.admin import RelatedOnlyFieldListFilter
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from tenants.models import Membership, Tenant

_ROLES_ATTR = "_tollgate_tenant_roles"
MANAGER_ROLES = frozenset({Membership.Role.OWNER, Membership.Role.ADMIN})


def tenant_roles(request: HttpRequest) -> dict[int, str]:
    """Tenant id -> the request user's role there; computed once per request."""
    roles = getattr(request, _ROLES_ATTR, None)
    if roles is None:
        user = request.user
        roles = (
            dict(Membership.objects.filter(user=user).values_list("tenant_id", "role"))
            if user.is_authenticated
            else {}
        )
        setattr(request, _ROLES_ATTR, roles)
    return roles


def is_operator(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


def viewable_tenant_ids(request: HttpRequest) -> list[int]:
    return sorted(tenant_roles(request))


def manageable_tenant_ids(request: HttpRequest) -> list[int]:
    return sorted(tid for tid, role in tenant_roles(request).items() if role in MANAGER_ROLES)


def single_managed_tenant(request: HttpRequest) -> Tenant | None:
    """The tenant a non-operator manages, when there is exactly one (it needs no choosing)."""
    ids = manageable_tenant_ids(request)
    if is_operator(request) or len(ids) != 1:
        return None
    return Tenant.objects.get(pk=ids[0])


class HttpsUrlFieldsMixin:
    """URL fields without a scheme mean https (Django 6's default, without the warning)."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class NotFoundForOthersMixin(HttpsUrlFieldsMixin):
    """A missing object, or one outside the user's queryset, is a 404 on every object URL.

    Django's admin would redirect to the index with "does not exist", which differs from a
    plain 404 and tells the user the id was looked up; change, delete and history all go
    through get_object, so this covers them all.
    """

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("Not found.")
        return obj


class OperatorOnlyAdminMixin(NotFoundForOthersMixin):
    """Platform pages that belong to no tenant (users, groups): operators only. To anyone else
    every object URL is a 404, whether the id exists or not (a user of another tenant is not
    even confirmed), and the list a 403."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if is_operator(request) else queryset.none()

    def has_module_permission(self, request):
        return is_operator(request)

    def has_view_permission(self, request, obj=None):
        return is_operator(request)

    def has_add_permission(self, request, *args):
        return is_operator(request)

    def has_change_permission(self, request, obj=None):
        return is_operator(request)

    def has_delete_permission(self, request, obj=None):
        return is_operator(request)


class TenantScopedAdminMixin(NotFoundForOthersMixin):
    """Scopes a ModelAdmin of a tenant-owned model to the user's memberships.

    `tenant_lookup` is the model's FK to Tenant ("pk" for Tenant itself). The `tenant_can_*`
    flags say what managers (owner/admin) may do; viewers only ever read. `read_only` makes the
    model read-only for operators too (append-only records such as usage events).
    """

    tenant_lookup = "tenant"
    tenant_can_add = True
    tenant_can_change = True
    tenant_can_delete = True
    read_only = False

    # --- which tenant an object belongs to ---------------------------------------------------
    def object_tenant_id(self, obj: Model) -> int | None:
        if self.tenant_lookup == "pk":
            return obj.pk
        return getattr(obj, f"{self.tenant_lookup}_id")

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet, *, manage: bool = False):
        if is_operator(request):
            return queryset
        ids = manageable_tenant_ids(request) if manage else viewable_tenant_ids(request)
        return queryset.filter(**{f"{self.tenant_lookup}__in": ids})

    def get_queryset(self, request):
        return self.scope_queryset(request, super().get_queryset(request))

    # --- permissions from membership roles ---------------------------------------------------
    def has_module_permission(self, request):
        return is_operator(request) or bool(viewable_tenant_ids(request))

    def has_view_permission(self, request, obj=None):
        if is_operator(request):
            return True
        if obj is None:
            return bool(viewable_tenant_ids(request))
        return self.object_tenant_id(obj) in tenant_roles(request)

    def _can_manage(self, request, obj, allowed: bool) -> bool:
        if self.read_only:
            return False
        if is_operator(request):
            return True
        if not allowed:
            return False
        if obj is None:
            return bool(manageable_tenant_ids(request))
        return self.object_tenant_id(obj) in manageable_tenant_ids(request)

    def has_add_permission(self, request, *args):
        return self._can_manage(request, None, self.tenant_can_add)

    def has_change_permission(self, request, obj=None):
        return self._can_manage(request, obj, self.tenant_can_change)

    def has_delete_permission(self, request, obj=None):
        return self._can_manage(request, obj, self.tenant_can_delete)

    # --- forms: only the user's tenants are ever offered ---------------------------------------
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not is_operator(request):
            queryset = scoped_related_queryset(request, db_field.related_model)
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        field = form.base_fields.get(self.tenant_lookup)
        if field is not None:
            if obj is not None:
                # Objects never move between tenants (credentials are bound to theirs).
                field.disabled = True
            else:
                tenant = single_managed_tenant(request)
                if tenant is not None:
                    field.initial = tenant.pk
                    field.disabled = True
        form.admin_request = request
        return form

    def save_model(self, request, obj, form, change):
        self.assign_tenant(request, obj)
        super().save_model(request, obj, form, change)

    def assign_tenant(self, request, obj) -> None:
        """Set the tenant for a single-tenant admin; refuse a tenant the user does not manage."""
        if is_operator(request) or self.tenant_lookup == "pk":
            return
        if self.object_tenant_id(obj) is None:
            tenant = single_managed_tenant(request)
            if tenant is not None:
                setattr(obj, self.tenant_lookup, tenant)
        if self.object_tenant_id(obj) not in manageable_tenant_ids(request):
            raise PermissionDenied

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, self.scope_queryset(request, queryset, manage=True))

    # --- lists: the tenant filter only for users with a choice, and only their tenants ---------
    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if not is_operator(request) and len(viewable_tenant_ids(request)) <= 1:
            filters = [f for f in filters if _filter_field(f) != self.tenant_lookup]
        return filters


def _filter_field(list_filter) -> str | None:
    if isinstance(list_filter, str):
        return list_filter
    if isinstance(list_filter, tuple | list):
        return list_filter[0]
    return None


def scoped_related_queryset(request: HttpRequest, model: type[Model]) -> QuerySet | None:
    """The rows of `model` a non-operator may pick in a form, or None if it is not tenant data."""
    ids = manageable_tenant_ids(request)
    if model is Tenant:
        return Tenant.objects.filter(pk__in=ids)
    if model is get_user_model():
        return model._default_manager.filter(memberships__tenant_id__in=ids).distinct()
    field_names = {f.name for f in model._meta.get_fields()}
    if "tenant" in field_names:
        return model._default_manager.filter(tenant_id__in=ids)
    return None


class ScopedRelatedFilter(RelatedOnlyFieldListFilter):
    """Offers only tenants (or related rows) that occur in the user's own, scoped queryset."""


class CatalogAdminMixin(NotFoundForOthersMixin):
    """The model catalog: operators edit it, every tenant member reads it."""

    def has_module_permission(self, request):
        return is_operator(request) or bool(viewable_tenant_ids(request))

    def has_view_permission(self, request, obj=None):
        return is_operator(request) or bool(viewable_tenant_ids(request))

    def has_add_permission(self, request, *args):
        return is_operator(request)

    def has_change_permission(self, request, obj=None):
        return is_operator(request)

    def has_delete_permission(self, request, obj=None):
        return is_operator(request)
