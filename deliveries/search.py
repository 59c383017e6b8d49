"""Finding deliveries by words and by worker, for the API's ?search= and
?worker= and the console's search box and worker filter.

Both look at a bounded window: deliveries created in the last
API_DELIVERY_SEARCH_DAYS days, unless the caller bounds the time itself
(created_after). A substring match cannot use a b-tree index, so what makes
it cheap is how many rows it may read: the window is a range on the
(created_at, id) index, newest first, and a page stops at its limit. Event
types and payload URLs come from the small event and webhook rows joined by
key; the worker from each candidate's attempts through attempt_by_delivery.
(A trigram index would let PostgreSQL search everything, but it needs the
pg_trgm extension, which a managed database may not allow us to create.)
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from deliveries.models import Delivery, DeliveryAttempt

SEARCH_TERMS_MAX = 5
SEARCH_TERM_MAX_LENGTH = 100
WORKER_MAX_LENGTH = 255


class SearchError(ValueError):
    """A search the caller must change (too many or too long terms)."""


def search_terms(text: str) -> list[str]:
    """The words of a search, each to be found; SearchError if unreasonable."""
    terms = text.split()
    if len(terms) > SEARCH_TERMS_MAX:
        raise SearchError(f"At most {SEARCH_TERMS_MAX} words; got {len(terms)}.")
    long = [t for t in terms if len(t) > SEARCH_TERM_MAX_LENGTH]
    if long:
        raise SearchError(f"Each word at most {SEARCH_TERM_MAX_LENGTH} characters.")
    if any("\x00" in t for t in terms):
        raise SearchError("Must not contain NUL characters.")
    return terms


def search_window_start(*, now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=settings.API_DELIVERY_SEARCH_DAYS)


def deliveries_matching(deliveries: QuerySet[Delivery], text: str) -> QuerySet[Delivery]:
    """Deliveries where every word appears (case-insensitive) in the event
    type, the last error or the webhook's payload URL."""
    for term in search_terms(text):
        deliveries = deliveries.filter(
            Q(event__type__icontains=term)
            | Q(last_error__icontains=term)
            | Q(webhook__payload_url__icontains=term)
        )
    return deliveries


def worker_q(worker: str) -> Q:
    """Deliveries with an attempt by this worker: "host:pid" exactly, or a
    bare host name for every process on that host."""
    if len(worker) > WORKER_MAX_LENGTH or "\x00" in worker:
        raise SearchError(
            f"A worker is host:pid or a host, at most {WORKER_MAX_LENGTH} characters."
        )
    by = Q(worker=worker) if ":" in worker else Q(worker__startswith=f"{worker}:")
    return Q(Exists(DeliveryAttempt.objects.filter(by, delivery=OuterRef("pk"))))


def within_window(
    deliveries: QuerySet[Delivery], *, bounded: bool, now: dt.datetime
) -> QuerySet[Delivery]:
    """The deliveries of the search window, unless the caller's own filters
    already bound the time (bounded)."""
    if bounded:
        return deliveries
    return deliveries.filter(created_at__gte=search_window_start(now=now))
