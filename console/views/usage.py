"""The usage explorer: the query lives in the URL (sharable), the page shows a chart and a table
of the same numbers; `?format=csv` downloads that aggregate, `events.csv` the raw events."""

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from console.access import ConsoleAccess, tenant_page
from console.rendering import render_page
from console.selectors.usage_explorer import (
    FILTER_FIELDS,
    explorer_aggregate,
    explorer_events,
    explorer_options,
    explorer_query,
    group_label,
)
from console.usage_csv import aggregate_csv, events_csv
from core.money import money_text


def _csv(lines, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@tenant_page
def usage(request: HttpRequest, access: ConsoleAccess) -> HttpResponse:
    tenant = access.tenant
    query = explorer_query(tenant=tenant, params=request.GET)
    options = explorer_options(tenant=tenant)
    if query.errors:
        return render_page(
            request,
            "console/usage.html",
            title="Usage explorer",
            access=access,
            q=query,
            options=options,
            status=400,
        )
    data = explorer_aggregate(tenant=tenant, query=query)
    span = f"{tenant.slug}-{query.start}-{query.end}-by-{query.group_by}"
    if request.GET.get("format") == "csv":
        return _csv(aggregate_csv(data=data, group_by=query.group_by), f"usage-{span}.csv")
    chart = {
        "labels": [group_label(row, query.group_by) for row in data["results"]],
        "cost": [money_text(row["cost_usd"], min_places=2) for row in data["results"]],
        "requests": [row["requests"] for row in data["results"]],
        "totals": {
            "requests": data["totals"]["requests"],
            "cost_usd": money_text(data["totals"]["cost_usd"], min_places=2),
        },
    }
    rows = [(group_label(row, query.group_by), row) for row in data["results"]]
    return render_page(
        request,
        "console/usage.html",
        title="Usage explorer",
        access=access,
        q=query,
        options=options,
        rows=rows,
        totals=data["totals"],
        chart=chart,
        query_string=request.GET.urlencode(),
        filter_fields=FILTER_FIELDS,
    )


@tenant_page
def usage_events_csv(request: HttpRequest, access: ConsoleAccess) -> HttpResponse:
    tenant = access.tenant
    query = explorer_query(tenant=tenant, params=request.GET)
    if query.errors:
        return HttpResponse(
            "; ".join(f"{k}: {' '.join(v)}" for k, v in query.errors.items()),
            status=400,
            content_type="text/plain",
        )
    events = explorer_events(tenant=tenant, query=query).iterator(chunk_size=2000)
    name = f"usage-events-{tenant.slug}-{query.start}-{query.end}.csv"
    return _csv(events_csv(events=events, tz=tenant.tzinfo), name)
