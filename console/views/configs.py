"""Routing configs: the list, the editor (model picker, ordered fallbacks, rule builder, JSON
as the advanced view) and its live route preview. Viewers see the editor read-only."""

import json

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from console.access import ConsoleAccess, tenant_page
from console.config_drafts import (
    DraftInvalid,
    config_document,
    draft_parse,
    draft_preview,
    draft_save,
)
from console.rendering import render_page
from console.selectors.model_picker import picker_models
from core.api_errors import validation_body
from llm.api.selectors import config_list


def _config_or_404(access: ConsoleAccess, config_id: int | None):
    if config_id is None:
        return None
    config = config_list(tenant=access.tenant).filter(pk=config_id).first()
    if config is None:
        raise Http404("Not found.")
    return config


@tenant_page
def configs(request: HttpRequest, access: ConsoleAccess) -> HttpResponse:
    return render_page(
        request,
        "console/configs.html",
        title="Routing configs",
        access=access,
        configs=config_list(tenant=access.tenant),
    )


@tenant_page
def config_edit(
    request: HttpRequest, access: ConsoleAccess, config_id: int | None = None
) -> HttpResponse:
    config = _config_or_404(access, config_id)
    document, errors = config_document(config), {}
    if request.method == "POST":
        access.require_write()
        raw = request.POST.get("config_json", "")
        try:
            document = draft_parse(raw)
            saved = draft_save(tenant=access.tenant, draft=document, config=config)
            return redirect("console:config-edit", slug=access.tenant.slug, config_id=saved.pk)
        except DraftInvalid as exc:
            errors = exc.fields
            document = document if isinstance(document, dict) else {}
    return render_page(
        request,
        "console/config_edit.html",
        title=f"Routing config · {config.name}" if config else "New routing config",
        access=access,
        config=config,
        editor={
            "config": document,
            "models": picker_models(tenant=access.tenant),
            "errors": errors,
        },
        status=400 if errors else 200,
    )


@tenant_page
@require_POST
def config_preview(
    request: HttpRequest, access: ConsoleAccess, config_id: int | None = None
) -> HttpResponse:
    """The live preview: JSON in (`{"config": draft, "task", "tags", "priority", "prompt"}`),
    the route-preview answer out; errors in the API's shape. Changes nothing (viewers too)."""
    config = _config_or_404(access, config_id)
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict) or not isinstance(body.get("config"), dict):
            raise DraftInvalid({"config": ["Must be a JSON object."]})
        hints = {k: str(body.get(k) or "")[:4000] for k in ("task", "tags", "priority", "prompt")}
        result = draft_preview(tenant=access.tenant, draft=body["config"], config=config, **hints)
    except ValueError:
        return JsonResponse(validation_body({"body": ["Not valid JSON."]}), status=400)
    except DraftInvalid as exc:
        return JsonResponse(validation_body(exc.fields), status=400)
    return JsonResponse(result)
