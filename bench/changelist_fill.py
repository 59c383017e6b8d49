"""Filling the console benchmark's database: a tenant tree with its webhooks
(through the project's services), then events, deliveries and attempts from
changelist_fill.sql, set-based, in a few seconds per million rows."""

from __future__ import annotations

import argparse
import math
import time

from bench.common import BENCH_DIR

FILL_SQL = BENCH_DIR / "changelist_fill.sql"
FAN_OUT = 10  # webhooks per event
USERNAME = "bench-admin"  # the superuser the pages are requested as
# Event types, most frequent first (picked with a skewed random draw), and
# one rare type on every 1000th event: the hard case for a filter on the
# event's type, which finds few rows in the delivery list's order.
EVENT_TYPES = [
    "VM.CREATE",
    "VM.START",
    "VM.STOP",
    "VM.DESTROY",
    "VOLUME.CREATE",
    "VOLUME.ATTACH",
    "VOLUME.DETACH",
    "VOLUME.DELETE",
    "SNAPSHOT.CREATE",
    "NETWORK.CREATE",
    "TEMPLATE.REGISTER",
    "USER.LOGIN",
]
RARE_TYPE = "ACCOUNT.DELETE"
# Failure rate of a webhook's receiver, by webhook number from the last one
# down: two failing, three degraded, the others healthy.
FAILING, DEGRADED = 2, 3
# Seconds from a delivery's creation to each attempt's start (the default
# retry schedule's first waits: 5 s, 5 min, 30 min).
ATTEMPT_OFFSETS = [0, 5, 305, 2105]


def create_tenants(webhooks: int) -> None:
    """A root admin, a small domain tree with accounts, and the webhooks."""
    from django.contrib.auth import get_user_model

    from hooks.models import Account, Domain, Membership, Role, Scope, Webhook
    from hooks.services import account_create, domain_create, generate_secret, root_domain

    root = root_domain()
    admin_account = account_create(name="admin", domain=root)
    user = get_user_model().objects.create_superuser(username=USERNAME, password=None)
    Membership.objects.create(user=user, account=admin_account, role=Role.ROOT_ADMIN)
    domains: list[Domain] = [root]
    for region in ("eu", "us", "apac"):
        parent = domain_create(name=region, parent=root)
        domains.append(parent)
        domains += [domain_create(name=f"{region}-{i}", parent=parent) for i in range(2)]
    accounts: list[Account] = [
        account_create(name=f"customer-{i}", domain=domains[i % len(domains)]) for i in range(20)
    ]
    scopes = [Scope.LOCAL] * 7 + [Scope.DOMAIN] * 2 + [Scope.GLOBAL]
    rows = []
    for i in range(webhooks):
        account = accounts[i % len(accounts)]
        rows.append(
            Webhook(
                name=f"hook-{i:03d}",
                description="bench",
                scope=scopes[i % len(scopes)],
                account=account,
                domain=account.domain,
                payload_url=f"https://receiver-{i}.example.com/webhooks/cloud",
                secret=generate_secret(),
            )
        )
    Webhook.objects.bulk_create(rows)


def fill(args: argparse.Namespace) -> None:
    """Events, deliveries and attempts, set-based: each table one INSERT …
    SELECT over generate_series. Ids are UUIDv7 made from created_at, as the
    application makes them, so the primary keys are in time order too."""
    from django.db import connection, transaction

    d, w = args.deliveries, args.webhooks
    fan_out = min(FAN_OUT, w)
    events = math.ceil(d / fan_out)
    params = {
        "d": d,
        "w": w,
        "f": fan_out,
        "events": events,
        "span": f"{args.days} days",
        "types": EVENT_TYPES,
        "rare": RARE_TYPE,
        "offsets": ATTEMPT_OFFSETS,
        "failing": FAILING,
        "degraded": DEGRADED,
    }
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET work_mem = '256MB'")
        cursor.execute("SET maintenance_work_mem = '512MB'")
    for name, statements in sql_steps(FILL_SQL.read_text()):
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in split_sql(statements):
                cursor.execute(statement, params)
        print(f"  {name}: {time.monotonic() - started:.1f} s", flush=True)
    started = time.monotonic()
    with connection.cursor() as cursor:  # autocommit: VACUUM refuses a transaction
        cursor.execute("DROP TABLE bench_dl, bench_ev, bench_wh, bench_acc, bench_now")
        # The pages are measured on this connection: with the server's settings.
        cursor.execute("RESET ALL")
        cursor.execute(
            "VACUUM (ANALYZE) deliveries_event, deliveries_delivery, deliveries_deliveryattempt, "
            "hooks_webhook, hooks_account, hooks_domain"
        )
    print(f"  vacuum analyze: {time.monotonic() - started:.1f} s", flush=True)


def sql_steps(text: str) -> list[tuple[str, str]]:
    """(name, SQL) of each "-- step: name" section of a file; what comes
    before the first one is the file's own comment."""
    steps: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("-- step: "):
            steps.append((line.removeprefix("-- step: ").strip(), []))
        elif steps:
            steps[-1][1].append(line)
    return [(name, "\n".join(body)) for name, body in steps]


def split_sql(text: str) -> list[str]:
    """Statements of a block, split on ';' at line ends (the function body's
    own ';' is inside $$ … $$)."""
    statements, current = [], []
    in_body = False
    for line in text.splitlines():
        current.append(line)
        in_body ^= line.count("$$") % 2 == 1
        if line.rstrip().endswith(";") and not in_body:
            statements.append("\n".join(current).strip().rstrip(";"))
            current = []
    rest = "\n".join(current).strip()
    if rest:
        statements.append(rest)
    return [s for s in statements if s]
