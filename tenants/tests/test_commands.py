from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tenants.models import Tenant
from tenants.services import api_key_authenticate


def test_create_tenant_and_api_key(db):
    out = StringIO()
    call_command("create_tenant", "initech", name="Initech", timezone="Europe/Berlin", stdout=out)
    tenant = Tenant.objects.get(slug="initech")
    assert (tenant.name, tenant.timezone) == ("Initech", "Europe/Berlin")

    out = StringIO()
    call_command("create_api_key", "initech", scopes="inference,read,manage", name="ci", stdout=out)
    secret = out.getvalue().strip().splitlines()[-1]
    key = api_key_authenticate(secret=secret)
    assert key is not None
    assert key.tenant == tenant and key.name == "ci"
    assert key.scopes == ["inference", "manage", "read"]


def test_create_tenant_rejects_bad_timezone(db):
    with pytest.raises(CommandError, match="timezone"):
        call_command("create_tenant", "bad", name="Bad", timezone="Mars/Olympus")
    assert not Tenant.objects.filter(slug="bad").exists()


def test_create_api_key_for_unknown_tenant_or_scope(tenant):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("create_api_key", "nope", scopes="inference")
    with pytest.raises(CommandError):
        call_command("create_api_key", tenant.slug, scopes="inference,root")
