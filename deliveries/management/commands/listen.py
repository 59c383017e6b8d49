import json
import threading

from django.core.management.base import BaseCommand

from deliveries.receiver import Receiver, always
from deliveries.receiver import tencent as _tencent


class Command(BaseCommand):
    help = "Run a local webhook receiver that prints what it gets and checks signatures."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=9000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--secret", help="The webhook's secret, to verify signatures.")
        parser.add_argument(
            "--status",
            type=int,
            default=200,
            help="HTTP status to answer with (e.g. 500 to see retries).",
        )
        parser.add_argument(
            "--fail-first",
            type=int,
            default=0,
            metavar="N",
            help="Answer 500 to the first N requests, then --status.",
        )
        parser.add_argument(
            "--tencent",
            action="store_true",
            help="Acknowledge as a Tencent Cloud alarm callback receiver: 200 "
            '{"sessionId": <echoed>, "retCode": 0} (retCode 1 for the --fail-first ones).',
        )

    def handle(self, *args, port, host, secret, status, fail_first, tencent, **options):
        count = {"n": 0}

        def responder(received):
            # Called after show(): the answer is printed under the request.
            count["n"] += 1
            failing = count["n"] <= fail_first
            answer = 500 if failing else status
            why = f" (--fail-first: {count['n']} of {fail_first})" if failing else ""
            if tencent:
                code = 1 if failing else 0
                self.stdout.write(f"answered: {status} with retCode {code}{why}\n")
                return _tencent(code)(received)
            style = self.style.SUCCESS if 200 <= answer < 300 else self.style.ERROR
            self.stdout.write(style(f"answered: {answer}{why}\n"))
            return always(answer)(received)

        def show(received):
            self.stdout.write(self.style.MIGRATE_HEADING(f"POST {received.path}"))
            for name, value in received.headers.items():
                self.stdout.write(f"  {name}: {value}")
            try:
                body = json.dumps(json.loads(received.body), indent=2)
            except ValueError:
                body = received.body.decode(errors="replace")
            self.stdout.write(body)
            style = self.style.SUCCESS if received.signature == "valid" else self.style.WARNING
            self.stdout.write(style(f"signature: {received.signature}"))

        receiver = Receiver(
            host=host, port=port, secret=secret, responder=responder, on_request=show
        ).start()
        self.stdout.write(f"Listening on {receiver.url}/ (Ctrl-C to stop)")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            receiver.stop()
