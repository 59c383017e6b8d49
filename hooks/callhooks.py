"""Reads for call hooks: which webhooks get an event, call events included, and
a cheap answer to "does anyone listen to calls of this method here?".

The matching rules are hooks/callmatch.py's, applied with every other rule by
hooks.selectors (recipients_for_event), so a call event reaches exactly the
webhooks whose scope takes in the caller's account and domain, as any event
would.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from hooks.callmatch import CALL_EVENT_TYPES, PHASE_OF_TYPE, CallPhase, call_wanted
from hooks.models import Domain, Scope, Webhook
from hooks.selectors import Recipient, recipients_for_event

# call.pre, call.post by the phase they tell.
TYPE_OF_PHASE: dict[str, str] = {phase: type for type, phase in PHASE_OF_TYPE.items()}


def recipients_to_receive(
    *, event_type: str, data: Any, account_id: uuid.UUID | None, domain: Domain | None
) -> list[Recipient]:
    """The webhooks an event is delivered to (deliveries.publishing): a call
    event by its method and phase, any other event by its type, less the
    webhooks that are call hooks only (hooks.selectors.recipients_for_event)."""
    method = None
    if event_type in CALL_EVENT_TYPES:
        method = data.get("method") if isinstance(data, dict) else None
        if not isinstance(method, str):
            return []
    return recipients_for_event(
        event_type=event_type, call_method=method, account_id=account_id, domain=domain
    )


@dataclass(frozen=True)
class _Listener:
    scope: str
    account_id: uuid.UUID
    domain_id: uuid.UUID
    call_methods: list[str]
    call_phase: str


class CallListeners:
    """What every enabled call-hook webhook asks for, held in this process
    and read again at most every WEBHOOK_CALL_HOOKS_REFRESH seconds (and at
    once after a webhook is saved or deleted in this process).

    It lets a hooked call with no listener cost no query and no event: the
    REST API's event.publish is on the hot path. It only decides whether a
    call is worth publishing; who receives a published call event is read
    fresh (recipients_to_receive). So a call-hook webhook created in another
    process hears calls made here at most that many seconds later.
    """

    def __init__(self) -> None:
        self._rows: tuple[_Listener, ...] = ()
        self._read_at = -float("inf")
        self._generation = 0
        self._lock = threading.Lock()

    def forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._read_at = -float("inf")

    def webhooks_changed(self) -> None:
        """Read again on the next call, and again once the change is
        committed (a read in between would see the rows before it)."""
        self.forget()
        transaction.on_commit(self.forget)

    def _listeners(self) -> tuple[_Listener, ...]:
        now = time.monotonic()
        if now - self._read_at < settings.WEBHOOK_CALL_HOOKS_REFRESH:
            return self._rows
        generation = self._generation
        rows = tuple(
            _Listener(*values)
            for values in Webhook.objects.enabled()
            .exclude(call_methods=[])
            .values_list("scope", "account_id", "domain_id", "call_methods", "call_phase")
        )
        with self._lock:
            if generation == self._generation:  # no webhook changed while we read
                self._rows, self._read_at = rows, now
        return rows

    def none(self) -> bool:
        """Whether no enabled webhook listens to any call."""
        return not self._listeners()

    def phases(
        self, *, method: str, account_id: uuid.UUID | None, domain: Domain | None
    ) -> frozenset[str]:
        """The phases ("pre", "post") someone in scope wants of a call of
        `method` by a caller of this account and domain; empty: nobody."""
        ancestors = set(domain.ancestor_ids) if domain is not None else set()
        wanted: set[str] = set()
        for listener in self._listeners():
            if not _in_reach(listener, account_id=account_id, ancestors=ancestors):
                continue
            for phase in (CallPhase.PRE, CallPhase.POST):
                if phase not in wanted and call_wanted(
                    call_methods=listener.call_methods,
                    call_phase=listener.call_phase,
                    method=method,
                    phase=phase,
                ):
                    wanted.add(phase)
            if len(wanted) == 2:
                break
        return frozenset(wanted)


def _in_reach(
    listener: _Listener, *, account_id: uuid.UUID | None, ancestors: set[uuid.UUID]
) -> bool:
    # in_scope's rule, in memory.
    if listener.scope == Scope.GLOBAL:
        return True
    if listener.scope == Scope.LOCAL:
        return account_id is not None and listener.account_id == account_id
    return listener.domain_id in ancestors


call_listeners = CallListeners()


@receiver(post_save, sender=Webhook, dispatch_uid="call_listeners_forget_saved")
@receiver(post_delete, sender=Webhook, dispatch_uid="call_listeners_forget_deleted")
def _webhook_changed(**kwargs: Any) -> None:
    call_listeners.webhooks_changed()
