"""What a worker does with a delivery, one concern per module, in the order
docs/architecture.md draws them:

    claim.py     take due deliveries for this worker (one conditional UPDATE)
    rows.py      instances from the claim's cursor rows (cached statements)
    request.py   the bytes and headers of an attempt
    send.py      claim, build, send through deliveries.http, record
    outcome.py   what a result means: done, retry when, or give up
    record.py    write the attempts and the deliveries' new states
    sweep.py     expired claims and lost messages (run by beat)
    operator.py  redeliver, requeue, recover, test send (the console and API)
"""
