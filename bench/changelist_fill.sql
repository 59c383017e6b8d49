-- The rows of bench/changelist.py, set-based: each table one INSERT ... SELECT
-- over generate_series. bench/changelist_fill.py runs each step in its own
-- transaction, with psycopg's named parameters (so a literal per cent sign
-- is written twice); a line ending in a semicolon ends a statement, except
-- inside a function body between double dollars.

-- step: helpers
CREATE FUNCTION pg_temp.uuid7(ts timestamptz) RETURNS uuid AS $$
  SELECT (lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0')
          || '7' || substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid
$$ LANGUAGE sql VOLATILE;
CREATE TEMP TABLE bench_now AS SELECT now() AS now;
CREATE TEMP TABLE bench_wh AS
  SELECT (row_number() OVER (ORDER BY name) - 1)::int AS n, id, payload_url,
         CASE WHEN row_number() OVER (ORDER BY name) > %(w)s - %(failing)s
                THEN 0.7
              WHEN row_number() OVER (ORDER BY name)
                   > %(w)s - %(failing)s - %(degraded)s THEN 0.15
              ELSE 0.01 END AS fail_rate
  FROM hooks_webhook;
CREATE TEMP TABLE bench_acc AS
  SELECT (row_number() OVER (ORDER BY name) - 1)::int AS n, id, domain_id
  FROM hooks_account;

-- step: events
-- created_at grows with seq (plus jitter), the newest a few
-- seconds ago: arrival order, as in production.
CREATE TEMP TABLE bench_ev AS
  SELECT g AS seq,
         (SELECT now FROM bench_now) - %(span)s::interval
           * (1 - (g + random() * 0.9) / %(events)s) AS created_at,
         CASE WHEN g %% 1000 = 7 THEN %(rare)s
              ELSE (%(types)s::text[])[1 + floor(power(random(), 2)
                   * cardinality(%(types)s::text[]))::int] END AS type
  FROM generate_series(0, %(events)s - 1) AS g;
ALTER TABLE bench_ev ADD COLUMN id uuid;
UPDATE bench_ev SET id = pg_temp.uuid7(created_at);
INSERT INTO deliveries_event
  (id, type, account_id, domain_id, resource_id, resource_type, data,
   occurred_at, created_at)
SELECT e.id, e.type, a.id, a.domain_id, 'res-' || (e.seq %% 5000),
       split_part(e.type, '.', 1),
       jsonb_build_object('seq', e.seq, 'zone', 'zone-' || (e.seq %% 7),
                          'size_gb', e.seq %% 500, 'tags', jsonb_build_array('a', 'b')),
       e.created_at - interval '150 ms', e.created_at
FROM bench_ev e
JOIN bench_acc a ON a.n = e.seq %% (SELECT count(*) FROM bench_acc);

-- step: deliveries
-- Each event goes to fan_out consecutive webhooks, rotating; the
-- last event gets fewer so the total is exactly --deliveries.
-- Status: the newest few minutes partly pending/sending; the
-- failing and degraded webhooks' recent ones partly waiting for a
-- retry; then failed at the webhook's failure rate, else succeeded.
CREATE TEMP TABLE bench_dl AS
SELECT s.*,
       CASE status
         WHEN 'sending' THEN 0
         WHEN 'pending' THEN attempts
         ELSE attempts END AS recorded
FROM (
  SELECT x.*,
    CASE
      WHEN age < interval '1 minute' AND r < 0.2 THEN 'sending'
      WHEN age < interval '5 minutes' AND r < 0.5 THEN 'pending'
      WHEN fail_rate > 0.1 AND age < interval '10 hours' AND r < 0.2 THEN 'pending'
      WHEN r < fail_rate THEN 'failed'
      ELSE 'succeeded' END AS status,
    CASE
      WHEN age < interval '1 minute' AND r < 0.2 THEN 1
      WHEN age < interval '5 minutes' AND r < 0.5 THEN 0
      WHEN fail_rate > 0.1 AND age < interval '10 hours' AND r < 0.2
        THEN 1 + floor(r2 * 3)::int
      WHEN r < fail_rate THEN 1 + floor(r2 * 4)::int
      WHEN r2 < 0.9 THEN 1 WHEN r2 < 0.97 THEN 2 ELSE 3 END AS attempts
  FROM (
    SELECT e.seq, e.id AS event_id, wh.id AS webhook_id, wh.payload_url,
           wh.fail_rate, e.created_at + j * interval '2 ms' AS created_at,
           (SELECT now FROM bench_now) - e.created_at AS age,
           random() AS r, random() AS r2
    FROM bench_ev e
    CROSS JOIN generate_series(0, %(f)s - 1) AS j
    JOIN bench_wh wh ON wh.n = (e.seq * %(f)s + j) %% %(w)s
    WHERE e.seq::bigint * %(f)s + j < %(d)s
  ) x
) s;
ALTER TABLE bench_dl ADD COLUMN id uuid, ADD COLUMN finished_at timestamptz;
UPDATE bench_dl SET
  id = pg_temp.uuid7(created_at),
  finished_at = CASE WHEN status IN ('succeeded', 'failed') THEN
    LEAST((SELECT now FROM bench_now),
          created_at + (%(offsets)s::int[])[attempts] * interval '1 second'
          + interval '180 ms') END;
INSERT INTO deliveries_delivery
  (id, event_id, webhook_id, status, attempts, next_attempt_at, claim_token,
   lease_expires_at, message_due_at, last_status_code, last_error, created_at,
   finished_at)
SELECT id, event_id, webhook_id, status, attempts,
       CASE status WHEN 'pending' THEN
         CASE WHEN attempts = 0 THEN created_at
              ELSE (SELECT now FROM bench_now) + r2 * interval '2 hours' END
       END,
       CASE WHEN status = 'sending' THEN gen_random_uuid() END,
       CASE WHEN status = 'sending'
         THEN (SELECT now FROM bench_now) + interval '5 minutes' END,
       CASE WHEN status = 'pending' AND attempts = 0 THEN created_at END,
       CASE WHEN status = 'succeeded' THEN 200
            WHEN recorded > 0 AND r2 >= 0.3 THEN 503 END,
       CASE WHEN status = 'succeeded' OR recorded = 0 THEN ''
            WHEN r2 < 0.3 THEN 'Timeout: Operation timed out after 10000 '
                 || 'milliseconds with 0 bytes received (curl error 28)'
            ELSE 'HTTP 503' END,
       created_at, finished_at
FROM bench_dl;

-- step: attempts
-- One per attempt made; every one failed but a succeeded
-- delivery's last. Failures: timeouts (10 s) or HTTP 503.
INSERT INTO deliveries_deliveryattempt
  (id, delivery_id, number, started_at, duration_ms, url, request_headers,
   response_status, response_headers, response_body, response_truncated,
   error_class, error_message)
SELECT pg_temp.uuid7(a.started_at), a.id, a.k, a.started_at,
       CASE WHEN a.ok THEN 20 + floor(power(a.r3, 3) * 900)::int
            WHEN a.timeout THEN 10000
            ELSE 5 + floor(a.r3 * 200)::int END,
       a.payload_url,
       jsonb_build_object(
         'Content-Type', 'application/json',
         'User-Agent', 'Webhooks-Platform/0.1',
         'webhook-id', a.event_id::text,
         'webhook-timestamp', floor(extract(epoch FROM a.started_at))::bigint::text,
         'webhook-signature', '[redacted]'),
       CASE WHEN a.ok THEN 200 WHEN a.timeout THEN NULL ELSE 503 END,
       CASE WHEN a.timeout THEN '{}'::jsonb
            ELSE jsonb_build_object('content-type', 'text/plain',
                                    'server', 'nginx') END,
       convert_to(CASE WHEN a.ok THEN 'ok' WHEN a.timeout THEN ''
            ELSE 'Service Unavailable' END, 'UTF8'),
       false,
       CASE WHEN a.timeout THEN 'Timeout' ELSE '' END,
       CASE WHEN a.timeout THEN 'Operation timed out after 10000 milliseconds '
                                || 'with 0 bytes received (curl error 28)'
            ELSE '' END
FROM (
  SELECT dl.id, dl.event_id, dl.payload_url, k,
         LEAST((SELECT now FROM bench_now) - interval '1 second',
               dl.created_at + (%(offsets)s::int[])[k] * interval '1 second'
               + interval '20 ms') AS started_at,
         dl.status = 'succeeded' AND k = dl.attempts AS ok,
         NOT (dl.status = 'succeeded' AND k = dl.attempts)
           AND (CASE WHEN k = dl.recorded THEN dl.r2 ELSE random() END) < 0.3
           AS timeout,
         random() AS r3
  FROM bench_dl dl
  CROSS JOIN LATERAL generate_series(1, dl.recorded) AS k
) a;
