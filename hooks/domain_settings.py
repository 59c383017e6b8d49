"""Domain-level delivery settings (CloudStack's domain-scoped
webhook.delivery.timeout and webhook.delivery.retries): set on a domain, they
apply to the webhooks of that domain and of its subdomains, unless a
subdomain or the webhook sets its own.

Where the effective value is worked out: once, when a setting changes, not
per delivery. Each domain row carries the nearest setting at or above it
(Domain.inherited_*, with the domain it is set on), rewritten here for the
whole subtree of a domain whose setting changed. A worker then reads a
webhook's effective values from the webhook's own domain row, which the
claim loads with the webhook in the same query (a join on a primary key):
the hot path costs what it did, and a change applies to the next attempt
claimed. Why not resolve per batch: that is a query per claim for the
ancestors of the batch's domains; why not denormalise onto the webhooks:
a domain change would rewrite every webhook of the subtree (thousands of
rows) and every write path that makes or moves a webhook would have to keep
it right. Domains are few and their settings change rarely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from hooks.models import Domain, Webhook

SETTINGS = ("timeout", "max_attempts")
DEFAULT_SETTING = {"timeout": "WEBHOOK_TIMEOUT", "max_attempts": "WEBHOOK_MAX_ATTEMPTS"}


class Source:
    WEBHOOK = "webhook"
    DOMAIN = "domain"
    DEFAULT = "default"


@dataclass(frozen=True)
class Effective:
    """A webhook's effective value of one setting and where it came from."""

    value: Any
    source: str  # Source.*
    domain: Domain | None = None  # the domain it is set on (source domain)
    setting: str = ""  # the platform setting's name (source default)

    @property
    def label(self) -> str:
        if self.source == Source.WEBHOOK:
            return "set on the webhook"
        if self.source == Source.DOMAIN and self.domain is not None:
            return f"from domain {self.domain.name}"
        return f"platform default ({self.setting})"


def webhook_effective(webhook: Webhook, name: str) -> Effective:
    """The value the workers use for `name` (timeout or max_attempts), the
    same as Webhook.effective_*, with its source. Load the webhook with
    select_related("domain__inherited_<name>_from") to read it without a query."""
    value = getattr(webhook, f"effective_{name}")
    if getattr(webhook, name) is not None:
        return Effective(value, Source.WEBHOOK)
    domain = webhook.domain if webhook.domain_id is not None else None
    if domain is not None and getattr(domain, f"inherited_{name}") is not None:
        return Effective(value, Source.DOMAIN, domain=getattr(domain, f"inherited_{name}_from"))
    return Effective(value, Source.DEFAULT, setting=DEFAULT_SETTING[name])


def domain_effective(domain: Domain, name: str) -> Effective:
    """What a webhook of this domain without its own value gets."""
    inherited = getattr(domain, f"inherited_{name}")
    if inherited is not None:
        return Effective(inherited, Source.DOMAIN, domain=getattr(domain, f"inherited_{name}_from"))
    default = DEFAULT_SETTING[name]
    return Effective(getattr(settings, default), Source.DEFAULT, setting=default)


EFFECTIVE_RELATED = [
    "domain__inherited_timeout_from",
    "domain__inherited_max_attempts_from",
]


@transaction.atomic
def domain_set_delivery(*, domain: Domain, **values: float | int | None) -> Domain:
    """Set a domain's own delivery settings (delivery_timeout,
    delivery_max_attempts; None clears one) and pass the result down its
    subtree. Validated by the model's validators first."""
    unknown = set(values) - {f"delivery_{name}" for name in SETTINGS}
    if unknown:
        raise ValueError(f"Not a delivery setting: {', '.join(sorted(unknown))}.")
    for field, value in values.items():
        setattr(domain, field, value)
    domain.full_clean(exclude=["path", "parent", "name"])
    domain.save(update_fields=[*values])
    domains_resolve(top=domain)
    domain.refresh_from_db()
    return domain


def domains_resolve(*, top: Domain) -> int:
    """Rewrite the inherited_* fields of `top` and every domain below it from
    their own settings and `top`'s parent's. Returns how many rows changed.

    The subtree is locked first, then the parent read: two changes in one
    branch at once are applied one after the other, each from what the
    other committed."""
    subtree = list(
        Domain.objects.select_for_update().filter(path__startswith=top.path).order_by("path")
    )
    parent = Domain.objects.filter(pk=top.parent_id).first() if top.parent_id else None
    by_id: dict[Any, Domain] = {d.id: d for d in subtree}
    fields = [f"inherited_{n}{s}" for n in SETTINGS for s in ("", "_from_id")]
    changed = []
    for domain in subtree:  # in path order: a parent before its children
        before = [getattr(domain, f) for f in fields]
        above = parent if domain.id == top.id else by_id[domain.parent_id]
        domain.inherit_delivery_settings(above)
        if [getattr(domain, f) for f in fields] != before:
            changed.append(domain)
    if changed:
        Domain.objects.bulk_update(changed, [f.removesuffix("_id") for f in fields])
    return len(changed)
