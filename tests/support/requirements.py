"""What a test needs from the machine: missing means failure, as for PostgreSQL and Redis.

`make test` and CI must really run every test, so a missing program or permission fails
the test with the reason and how to get it. Only NEWSLETTER_TEST_SERVICES=none (a laptop
without the services, see README "Tests") turns that into a skip.
"""

from __future__ import annotations

import os

import pytest


def require(available: bool, missing: str) -> None:
    """Fail (or, with NEWSLETTER_TEST_SERVICES=none, skip) when `available` is false."""
    if available:
        return
    if os.environ.get("NEWSLETTER_TEST_SERVICES", "").lower() == "none":
        pytest.skip(f"{missing} (NEWSLETTER_TEST_SERVICES=none)")
    pytest.fail(missing, pytrace=False)
