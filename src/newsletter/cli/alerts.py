"""After an ingest from the command line (an import, a feed poll): start its alert."""

from __future__ import annotations

from kombu.exceptions import OperationalError

from newsletter.cli.output import console
from newsletter.runtime import Runtime
from newsletter.tasks.enqueue import start_alerts_now


def start_alerts_after_ingest(rt: Runtime) -> None:
    """The alert of each new arrival batch to "ngay-khi-co" subscribers, after its commit.

    A broker that is away loses nothing: the batches stay unalerted and the reconciler
    starts their alerts once it answers (docs/delivery.md "Frequencies").
    """
    try:
        start_alerts_now(rt)
    except OperationalError as exc:
        console.print(
            f"alert not started now ({exc}); the reconciler starts it once the broker answers",
            highlight=False,
        )
