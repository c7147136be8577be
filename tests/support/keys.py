"""The address key the test settings make, for sessions tests build by hand."""

from __future__ import annotations

from sqlalchemy import Engine

from newsletter.address_key import SESSION_INFO, AddressKey
from newsletter.db import SessionFactory, create_session_factory
from tests.conftest import TEST_SECRET

# What `build_runtime(settings_factory(...))` puts in its sessions.
TEST_ADDRESS_KEY = AddressKey.from_secret(TEST_SECRET)
SESSION_KEY_INFO = {SESSION_INFO: TEST_ADDRESS_KEY}


def keyed_sessions(engine: Engine) -> SessionFactory:
    """Sessions on `engine` that hash addresses as the test settings' processes do."""
    return create_session_factory(engine, address_key=TEST_ADDRESS_KEY)
