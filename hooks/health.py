"""A webhook's endpoint health as the platform sees it: the circuit's two
states, the four states an operator sees (derived from Webhook's fields,
never stored), and the same derivation in SQL for filters and ordering.
Webhook.health (hooks/models.py) is the Python side: keep the two together.
The workers write the fields (deliveries/pipeline/health.py)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Circuit(models.TextChoices):
    CLOSED = "closed", "Closed"
    OPEN = "open", "Open"


class Health(models.TextChoices):
    """What an operator sees; derived from the fields, never stored."""

    HEALTHY = "healthy", "Healthy"
    DEGRADED = "degraded", "Degraded"
    CIRCUIT_OPEN = "circuit_open", "Circuit open"
    DISABLED = "disabled", "Disabled"


def health_q(state: str) -> Q:
    """The webhooks in one Health state, as a filter: Webhook.health in SQL
    (keep the two together)."""
    closed = Q(enabled=True) & ~Q(circuit=Circuit.OPEN)
    failing = Q(consecutive_failures__gt=0) | Q(throttle_limit__isnull=False)
    by_state: dict[str, Q] = {
        Health.DISABLED: Q(enabled=False),
        Health.CIRCUIT_OPEN: Q(enabled=True, circuit=Circuit.OPEN),
        Health.DEGRADED: closed & failing,
        Health.HEALTHY: closed & ~failing,
    }
    return by_state[state]


# Health states from best to worst: ordering by health_rank ascending lists
# healthy endpoints first, descending the worst first.
HEALTH_ORDER = (Health.HEALTHY, Health.DEGRADED, Health.CIRCUIT_OPEN, Health.DISABLED)
