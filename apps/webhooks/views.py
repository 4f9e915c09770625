"""Console pages for webhook subscriptions and deliveries (HTMX). Each action parses the form, calls one service,
renders. A secret is rendered once, in the answer to create or rotate (never cached), and never again."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import ApplicationError
from apps.org.selectors import entity_list
from apps.webhooks import selectors, services
from apps.webhooks.filters import DeliveryFilter
from apps.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from apps.webhooks.services.health import FAILING_WINDOW

PAGE = 50
ADD = "webhooks.add_webhooksubscription"
CHANGE = "webhooks.change_webhooksubscription"
REPLAY = "webhooks.replay_webhookdelivery"


def _need(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise DjangoPermissionDenied


def _subscription(request, pk: int) -> WebhookSubscription:
    try:
        return selectors.subscription_get(user=request.user, pk=pk)
    except WebhookSubscription.DoesNotExist:
        raise Http404("No such subscription") from None


def _delivery(request, pk: int) -> WebhookDelivery:
    try:
        return selectors.delivery_get(user=request.user, pk=pk)
    except WebhookDelivery.DoesNotExist:
        raise Http404("No such delivery") from None


def _form_values(request) -> dict:
    post = request.POST
    try:
        max_attempts = int(post.get("max_attempts") or 0)
    except ValueError:
        max_attempts = 0
    return {
        "name": post.get("name", ""), "url": post.get("url", ""), "event_types": post.get("event_types", ""),
        "legal_entity_code": post.get("legal_entity") or None, "active": post.get("active") == "on",
        "max_attempts": max_attempts, "reason": post.get("reason", "").strip(),
    }


def _secret_page(request, sub: WebhookSubscription, secret: str, *, created: bool):
    response = render(request, "webhooks/secret.html", {"s": sub, "secret": secret, "created": created},
                      status=201 if created else 200)
    add_never_cache_headers(response)
    return response


@login_required
@require_GET
def subscription_list(request):
    _need(request, "webhooks.view_webhooksubscription")
    subs = list(selectors.subscription_list(user=request.user))
    rows = [{"s": s, "stats": selectors.delivery_stats(subscription_id=s.pk, window=FAILING_WINDOW)} for s in subs]
    return render(request, "webhooks/list.html", {"rows": rows, "can_add": request.user.has_perm(ADD)})


@login_required
@require_http_methods(["GET", "POST"])
def subscription_create(request):
    _need(request, ADD)
    values, error = {"event_types": "*", "active": True, "max_attempts": 8}, ""
    if request.method == "POST":
        values = _form_values(request)
        try:
            sub, secret = services.webhook_subscription_create(actor=request.user, **values)
        except ApplicationError as exc:
            error = exc.message
        else:
            return _secret_page(request, sub, secret, created=True)
    return render(request, "webhooks/form.html", {
        "values": values, "error": error, "entities": entity_list(user=request.user), "s": None,
    }, status=400 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def subscription_detail(request, pk: int):
    sub = _subscription(request, pk)
    can_change = request.user.has_perm(CHANGE)
    error = ""
    if request.method == "POST":
        _need(request, CHANGE)
        values = _form_values(request)
        try:
            services.webhook_subscription_update(subscription_id=sub.pk, actor=request.user, **values)
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(request, "Saved.")
            return redirect("webhooks:detail", pk=sub.pk)
    else:
        values = {"name": sub.name, "url": sub.url, "event_types": ", ".join(sub.event_types),
                  "legal_entity_code": sub.legal_entity.code if sub.legal_entity_id else None,
                  "active": sub.active, "max_attempts": sub.max_attempts}
    recent = selectors.delivery_list(user=request.user).filter(subscription=sub).defer("body")[:20]
    return render(request, "webhooks/form.html", {
        "s": sub, "values": values, "error": error, "can_change": can_change, "recent": recent,
        "entities": entity_list(user=request.user),
        "stats": selectors.delivery_stats(subscription_id=sub.pk, window=FAILING_WINDOW),
        "history": sub.history.select_related("history_user").order_by("-history_date")[:20],
    }, status=400 if error else 200)


@login_required
@require_POST
def subscription_rotate(request, pk: int):
    sub = _subscription(request, pk)
    _need(request, CHANGE)
    try:
        sub, secret = services.webhook_subscription_rotate_secret(
            subscription_id=sub.pk, actor=request.user, reason=request.POST.get("reason", "").strip())
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("webhooks:detail", pk=sub.pk)
    return _secret_page(request, sub, secret, created=False)


@login_required
@require_POST
def subscription_toggle(request, pk: int):
    sub = _subscription(request, pk)
    _need(request, CHANGE)
    try:
        services.webhook_subscription_set_active(subscription_id=sub.pk, active=request.POST.get("active") == "true",
                                                 actor=request.user, reason=request.POST.get("reason", "").strip())
        messages.success(request, "Saved.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("webhooks:detail", pk=sub.pk)


@login_required
@require_GET
def delivery_list(request):
    _need(request, "webhooks.view_webhookdelivery")
    qs = selectors.delivery_list(user=request.user).defer("body")
    filterset = DeliveryFilter(request.GET, queryset=qs)
    rows = filterset.qs if filterset.is_valid() else qs.none()
    page = Paginator(rows, PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "filter": filterset, "statuses": DeliveryStatus.choices,
               "subscriptions": selectors.subscription_list(user=request.user),
               "can_replay": request.user.has_perm(REPLAY)}
    if request.htmx and request.htmx.target == "deliveries":
        return render(request, "webhooks/_delivery_table.html", context)
    return render(request, "webhooks/deliveries.html", context)


@login_required
@require_GET
def delivery_detail(request, pk: int):
    delivery = _delivery(request, pk)
    return render(request, "webhooks/delivery_detail.html", {
        "d": delivery, "attempts": selectors.delivery_attempts(delivery=delivery),
        "timeline": selectors.delivery_timeline(delivery=delivery), "can_replay": request.user.has_perm(REPLAY),
    })


@login_required
@require_POST
def delivery_replay(request, pk: int):
    """HTMX: answers with the delivery's row (list) or status panel (detail) in its new state."""
    delivery = _delivery(request, pk)
    _need(request, REPLAY)
    error = ""
    try:
        services.webhook_delivery_replay(delivery_id=delivery.pk, actor=request.user,
                                         reason=request.POST.get("reason", "").strip())
    except ApplicationError as exc:
        error = exc.message
    delivery = _delivery(request, pk)  # in-process (eager) workers have sent it already
    if request.htmx:
        template = "webhooks/_delivery_status.html" if request.POST.get("fragment") == "status" \
            else "webhooks/_delivery_row.html"
        return render(request, template, {"d": delivery, "error": error, "can_replay": True,
                                           "replayed": not error})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Delivery {delivery.pk} replayed: {delivery.get_status_display()}.")
    return redirect("webhooks:delivery-detail", pk=delivery.pk)
