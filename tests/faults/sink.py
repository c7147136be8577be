"""An SMTP sink in its own process: `python -m tests.faults.sink PORT RECORD [--flaky SEED]`.

Every accepted message appends its recipients to RECORD, one line each, flushed at once,
so the file is the sink's record even when the test kills this process. Running outside
the test process keeps 20,000 messages from competing with pytest for the GIL.

`--flaky SEED` answers a third of the RCPT and DATA commands (the ones that name a
recipient) with 421 or 451, at random from SEED, but never refuses one recipient more
than MAX_REFUSALS times: a row that fails temporarily MAX_ATTEMPTS (5) times is failed
by design (docs/delivery.md), and the fault under test is a flaky relay, not a dead
mailbox.
"""

from __future__ import annotations

import argparse
import random
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import IO

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

MAX_REFUSALS = 3
REFUSALS = ("421 4.3.2 service shutting down, try later", "451 4.3.0 temporary failure")


class Handler:
    def __init__(self, record: IO[str], flaky: random.Random | None) -> None:
        self.record = record
        self.flaky = flaky
        self.refused: Counter[str] = Counter()

    def _refusal(self, recipient: str) -> str | None:
        """A 4xx for about a third of the commands naming `recipient`, else None."""
        if self.flaky is None or self.refused[recipient] >= MAX_REFUSALS:
            return None
        if self.flaky.random() >= 1 / 3:
            return None
        self.refused[recipient] += 1
        return self.flaky.choice(REFUSALS)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self._refusal(address)
        if refusal:
            print(f"refused RCPT {address}: {refusal}", flush=True)
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        recipients = list(envelope.rcpt_tos)
        refusal = self._refusal(recipients[0]) if recipients else None
        if refusal:
            print(f"refused DATA {recipients[0]}: {refusal}", flush=True)
            return refusal
        self.record.write("".join(f"{r}\n" for r in recipients))
        self.record.flush()
        return "250 Message accepted"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("record", type=Path)
    parser.add_argument("--flaky", type=int, default=None, help="seed: refuse a third")
    args = parser.parse_args()
    flaky = random.Random(args.flaky) if args.flaky is not None else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with args.record.open("a", encoding="utf-8") as record:
        controller = Controller(
            Handler(record, flaky), hostname="127.0.0.1", port=args.port, decode_data=False
        )
        controller.start()
        print(f"sink listening on 127.0.0.1:{args.port}", flush=True)
        stop.wait()
        controller.stop()


if __name__ == "__main__":
    main()
