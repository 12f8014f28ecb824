"""BYOK key health from usage ingestion: each batch's attempts say which tenant key answered or
failed, so the console can show a key's last success and last failure without the request
path writing anything (the gateway only notes the credential id in its attempt log)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenants.services import CredentialOutcome, credential_outcomes_record

if TYPE_CHECKING:
    from collections.abc import Iterable

    from billing.usage_record import UsageRecord


def credential_outcomes(records: Iterable[UsageRecord]) -> list[CredentialOutcome]:
    """The newest success and failure per (tenant, credential) among the records' attempts."""
    found: dict[tuple[int, int], dict] = {}
    for record in records:
        for attempt in record.attempts:
            credential_id = attempt.get("credential_id") if isinstance(attempt, dict) else None
            if not isinstance(credential_id, int) or attempt.get("status") not in ("ok", "error"):
                continue
            seen = found.setdefault((record.tenant_id, credential_id), {})
            if attempt["status"] == "ok":
                if seen.get("success_at") is None or record.created_at > seen["success_at"]:
                    seen["success_at"] = record.created_at
            elif seen.get("failure_at") is None or record.created_at >= seen["failure_at"]:
                seen["failure_at"] = record.created_at
                seen["failure_kind"] = str(attempt.get("kind") or "error")
    return [
        CredentialOutcome(tenant_id=tenant_id, credential_id=credential_id, **seen)
        for (tenant_id, credential_id), seen in sorted(found.items())
    ]


def credential_health_note(*, records: Iterable[UsageRecord]) -> int:
    """Record the batch's outcomes: one UPDATE per BYOK credential it used."""
    return credential_outcomes_record(outcomes=credential_outcomes(records))
