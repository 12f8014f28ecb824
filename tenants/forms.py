"""Admin forms for tenant data: write-only BYOK keys, API keys with scopes, members.

Every form here that takes a secret takes it write-only: the password widget never renders a
value back, and no form, list or detail page ever shows the stored key or its ciphertext.
"""

import json
import re

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminEmailInputWidget,
    UnfoldAdminPasswordWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldAdminURLInputWidget,
)

from core.errors import ApplicationError
from core.ssrf import validate_upstream_base_url
from tenants.models import Membership, ProviderCredential, Tenant, TenantApiKey

# --- JSON editing ------------------------------------------------------------------------------


class JsonTextareaWidget(UnfoldAdminTextareaWidget):
    """A monospace textarea sized for JSON documents."""

    def __init__(self, attrs: dict | None = None) -> None:
        attrs = {"rows": 8, "spellcheck": "false", "class": "font-mono text-sm", **(attrs or {})}
        super().__init__(attrs=attrs)


class PrettyJSONField(forms.JSONField):
    """Shows JSON indented, one item per line, so long rule lists stay readable."""

    widget = JsonTextareaWidget

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


class FieldPathErrorsMixin:
    """Shows model.clean() errors keyed by a path (`rules[2].route.model`) on the form field the
    path starts in, keeping the full path in the message, instead of crashing on an unknown
    field name."""

    def _update_errors(self, errors: ValidationError) -> None:
        if not hasattr(errors, "error_dict"):
            return super()._update_errors(errors)
        remapped: dict[str, list] = {}
        for key, messages in errors.error_dict.items():
            root = re.split(r"[.\[]", key, maxsplit=1)[0]
            if root in self.fields and root != key:
                messages = [f"{key}: {message}" for e in messages for message in e.messages]
            elif root not in self.fields:
                root = NON_FIELD_ERRORS
            remapped.setdefault(root, []).extend(messages)
        return super()._update_errors(ValidationError(remapped))


# --- BYOK credentials --------------------------------------------------------------------------


class BaseUrlFormField(forms.URLField):
    """A URL checked by the SSRF check alone (in `clean`): stricter than URLValidator, and it
    says why it refuses."""

    default_validators: list = []


class ProviderCredentialForm(forms.ModelForm):
    """Add or rotate a BYOK key. The key is write-only: leave it empty to keep the stored one."""

    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=UnfoldAdminPasswordWidget(
            attrs={"autocomplete": "new-password"}, render_value=False
        ),
        help_text="Write-only. Enter a new key to rotate; leave empty to keep the current key.",
    )
    base_url = BaseUrlFormField(
        required=False,
        max_length=500,
        assume_scheme="https",
        widget=UnfoldAdminURLInputWidget,
        help_text="Optional: your own endpoint for this provider (checked against SSRF).",
    )

    class Meta:
        model = ProviderCredential
        fields = ["tenant", "provider", "api_key", "base_url", "is_active"]

    def clean(self):
        cleaned = super().clean()
        api_key = cleaned.get("api_key") or ""
        adding = self.instance.pk is None
        if adding and not api_key:
            self.add_error("api_key", "Enter the provider's API key.")
        elif api_key and len(api_key) < 8:
            self.add_error("api_key", "This key is too short to be a provider key.")
        base_url = cleaned.get("base_url") or ""
        if base_url:
            try:
                validate_upstream_base_url(base_url)
            except ApplicationError as exc:
                self.add_error("base_url", exc.message)
        if not adding and base_url != self.instance.base_url and not api_key:
            # Pointing a stored key at a new host would send it there: ask for the key again.
            self.add_error("api_key", "Enter the key again to change the base URL.")
        tenant, provider = cleaned.get("tenant"), cleaned.get("provider")
        exists = ProviderCredential.objects.filter(tenant=tenant, provider=provider).exists
        if adding and tenant and provider and exists():
            self.add_error(
                "provider",
                "This tenant already has a key for this provider; open it to rotate the key.",
            )
        return cleaned


# --- API keys ----------------------------------------------------------------------------------


class NameListFormField(forms.CharField):
    """A list of names (model ids, provider slugs, config names) typed comma-separated."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def name_list_field(help_text: str) -> NameListFormField:
    return NameListFormField(required=False, help_text=help_text)


class ApiKeyForm(forms.ModelForm):
    """Name, scopes, expiry and limits. The secret is made by `api_key_create`, shown once."""

    allowed_models = name_list_field(
        "Comma-separated models this key may call (provider/model or model); empty: any."
    )
    allowed_configs = name_list_field(
        "Comma-separated routing configs this key may call; empty: any."
    )

    scopes = forms.MultipleChoiceField(
        choices=TenantApiKey.Scope.choices,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        initial=[TenantApiKey.Scope.INFERENCE],
        help_text="inference: call the gateway; read: usage and config reads; manage: writes.",
    )

    class Meta:
        model = TenantApiKey
        fields = [
            "tenant",
            "name",
            "scopes",
            "expires_at",
            "rpm_limit",
            "tpm_limit",
            "allowed_models",
            "allowed_configs",
        ]


class TenantForm(forms.ModelForm):
    """The tenant, with its plan (operator only) as comma-separated lists."""

    allowed_providers = name_list_field(
        "Comma-separated provider slugs this tenant may use; empty: every provider with a key."
    )
    allowed_models = name_list_field("Comma-separated models this tenant may use; empty: all.")
    local_providers = name_list_field(
        "Keyless local providers (ollama, vllm) this tenant may see; empty: none."
    )

    class Meta:
        model = Tenant
        # Every field, as the admin showed before this form: a field added later appears too.
        fields = "__all__"  # noqa: DJ007


# --- Members -----------------------------------------------------------------------------------


class MembershipRulesMixin:
    """Role rules for non-operators: only an owner grants or changes the owner role, and a
    tenant keeps at least one owner."""

    def check_role_rules(self, *, tenant, role: str) -> None:
        request = getattr(self, "admin_request", None)
        if request is None or request.user.is_superuser or tenant is None:
            return
        actor_role = (
            Membership.objects.filter(tenant=tenant, user=request.user)
            .values_list("role", flat=True)
            .first()
        )
        current = self.instance.role if self.instance.pk else None
        touches_owner = Membership.Role.OWNER in (role, current)
        if touches_owner and actor_role != Membership.Role.OWNER:
            self.add_error("role", "Only an owner can grant or change the owner role.")
        if current == Membership.Role.OWNER and role != Membership.Role.OWNER:
            owners = Membership.objects.filter(tenant=tenant, role=Membership.Role.OWNER)
            if owners.count() <= 1:
                self.add_error("role", "A tenant needs at least one owner.")


class MembershipForm(MembershipRulesMixin, forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["tenant", "user", "role"]

    def clean(self):
        cleaned = super().clean()
        tenant = cleaned.get("tenant") or getattr(self.instance, "tenant", None)
        if cleaned.get("role"):
            self.check_role_rules(tenant=tenant, role=cleaned["role"])
        return cleaned


class MemberInviteForm(MembershipRulesMixin, forms.ModelForm):
    """A tenant admin adds a member by username (no list of other tenants' users is offered):
    an existing user is added as is, a new one is created as a staff user with the password."""

    username = forms.CharField(max_length=150, widget=UnfoldAdminTextInputWidget)
    email = forms.EmailField(required=False, widget=UnfoldAdminEmailInputWidget)
    password = forms.CharField(
        required=False,
        strip=False,
        widget=UnfoldAdminPasswordWidget(attrs={"autocomplete": "new-password"}),
        help_text="Only for a new user: their first password.",
    )

    class Meta:
        model = Membership
        fields = ["tenant", "username", "email", "password", "role"]

    def clean(self):
        cleaned = super().clean()
        username = cleaned.get("username")
        tenant = cleaned.get("tenant")
        if not username:
            return cleaned
        user_model = get_user_model()
        self.existing_user = user_model._default_manager.filter(username=username).first()
        if self.existing_user is not None:
            if (
                tenant
                and Membership.objects.filter(tenant=tenant, user=self.existing_user).exists()
            ):
                self.add_error("username", "This user is already a member.")
        elif not cleaned.get("password"):
            self.add_error("password", "Set a first password for the new user.")
        else:
            try:
                validate_password(cleaned["password"], user_model(username=username))
            except ValidationError as exc:
                self.add_error("password", exc)
        if cleaned.get("role"):
            self.check_role_rules(tenant=tenant, role=cleaned["role"])
        return cleaned

    def member_user(self):
        """The user to add, created now if new."""
        if self.existing_user is not None:
            return self.existing_user
        return get_user_model()._default_manager.create_user(
            username=self.cleaned_data["username"],
            email=self.cleaned_data.get("email") or "",
            password=self.cleaned_data["password"],
            is_staff=True,
        )
