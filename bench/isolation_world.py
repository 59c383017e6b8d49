"""A scenario's webhooks and accounts in the database, and which deliveries
each event owes the healthy receiver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.isolation_scenarios import Scenario
from bench.isolation_stack import HostileClient
from bench.publishers import EVENT_TYPE


@dataclass
class World:
    scenario: Scenario
    modes: list[str]  # per webhook index
    webhook_ids: list[Any]
    accounts: list[Any]  # per webhook index (local scope), else empty

    @property
    def bad_ids(self) -> set[Any]:
        return {w for w, m in zip(self.webhook_ids, self.modes, strict=True) if m != "ok"}

    def set_bad_enabled(self, enabled: bool) -> None:
        from hooks.models import Webhook

        Webhook.objects.filter(id__in=self.bad_ids).update(enabled=enabled)

    def healthy_paths(self, seq: int) -> list[str]:
        """The healthy receiver's paths that event number `seq` must reach."""
        if self.scenario.local:
            i = seq % len(self.modes)
            return [f"/hook/{i}"] if self.modes[i] == "ok" else []
        return [f"/hook/{i}" for i, m in enumerate(self.modes) if m == "ok"]

    def account_for(self, seq: int) -> Any:
        """The account event number `seq` is published for (None: global scope)."""
        return self.accounts[seq % len(self.accounts)] if self.accounts else None


def build_world(scenario: Scenario, receiver_port: int, hostile: HostileClient) -> World:
    """The scenario's webhooks, the bad ones disabled until the second phase."""
    from hooks.models import Account, Scope
    from hooks.services import account_create, root_domain, webhook_create

    root = root_domain()
    modes = scenario.layout()
    owner = Account.objects.filter(name="bench-owner", domain=root).first()
    owner = owner or account_create(name="bench-owner", domain=root)
    accounts = []
    if scenario.local:
        for i in range(len(modes)):
            name = f"bench-tenant-{i}"
            account = Account.objects.filter(name=name, domain=root).first()
            accounts.append(account or account_create(name=name, domain=root))
        # The publisher reads account.domain for every event: loaded once here.
        accounts = list(
            Account.objects.select_related("domain").filter(id__in=[a.id for a in accounts])
        )
        accounts.sort(key=lambda a: int(a.name.rsplit("-", 1)[1]))
    ids = []
    for i, mode in enumerate(modes):
        url = f"http://127.0.0.1:{receiver_port}/hook/{i}" if mode == "ok" else hostile.url(mode, i)
        webhook = webhook_create(
            name=f"iso-{scenario.name}-{mode}-{i}",
            payload_url=url,
            account=accounts[i] if scenario.local else owner,
            scope=Scope.LOCAL if scenario.local else Scope.GLOBAL,
            event_types=[EVENT_TYPE],
            enabled=mode == "ok",  # the bad ones wait for the second phase
        )
        ids.append(webhook.id)
    return World(scenario, modes, ids, accounts)
