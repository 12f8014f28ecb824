"""The operator dashboard (superusers only; anyone else gets a 404)."""

from django.http import Http404, HttpRequest, HttpResponse

from console.access import staff_required
from console.rendering import render_page
from console.selectors.operator import operator_dashboard as operator_figures
from tenants.admin_scoping import is_operator


@staff_required
def operator_dashboard(request: HttpRequest) -> HttpResponse:
    if not is_operator(request):
        raise Http404("Not found.")
    return render_page(
        request, "console/operator.html", title="Operator dashboard", o=operator_figures()
    )
