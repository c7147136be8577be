"""Addresses as residents type them, and the per-IP subscribe limit (in-process and Redis)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import dns.resolver
import pytest

from newsletter.idn import ascii_address
from newsletter.subscribers.addresses import (
    InputError,
    check_text,
    legacy_hash,
    normalize_lenient,
    parse_address,
    suppression_text,
)
from newsletter.subscribers.ip_limit import (
    MemoryIPLimiter,
    RedisIPLimiter,
    SubscribeLimiter,
    client_key,
    create_subscribe_limiter,
)
from tests.support.smtp import _free_port


def test_normalized_key_and_a_label_form() -> None:
    """The whole key is lower-cased and IDN domains keep a Unicode key and an A-label form."""
    assert parse_address(" An@EXAMPLE.gov.vn ").normalized == "an@example.gov.vn"
    assert parse_address("NGUYEN.Van.An@Example.VN").ascii == "nguyen.van.an@example.vn"
    assert normalize_lenient(" An@EXAMPLE.gov.vn") == "an@example.gov.vn"
    idn = parse_address("an@xn--v-d-rma6749a.vn")
    assert idn.normalized == "an@ví-dụ.vn"
    assert idn.ascii == "an@xn--v-d-rma6749a.vn"
    assert ascii_address("an@ví-dụ.vn") == "an@xn--v-d-rma6749a.vn"


def test_non_ascii_local_part_is_refused() -> None:
    """A local part needing SMTPUTF8 is refused with a Vietnamese message."""
    with pytest.raises(InputError, match="không hợp lệ"):
        parse_address("nguyễn@example.gov.vn")


@pytest.mark.parametrize("address", ["a@printer.local", "a@x.invalid", "a@mail.test", "a@b"])
def test_special_use_and_reserved_domains(address: str) -> None:
    """Special-use, reserved and dot-less domains are refused unless in development."""
    with pytest.raises(InputError):
        parse_address(address)


def test_development_allows_test_domains() -> None:
    """In development `.test` and dot-less trial domains are accepted."""
    assert parse_address("a@mail.test", development=True).normalized == "a@mail.test"
    assert parse_address("a@mailhog", development=True).normalized == "a@mailhog"


@pytest.mark.parametrize(
    "value", ["a\nb", "a\rb", "tab\there", "nul\x00", "x=?UTF-8?Q?=0A?=Bcc: a@b.vn", "\u2028"]
)
def test_control_characters_and_encoded_words_refused(value: str) -> None:
    """check_text refuses line breaks, control characters and =?...?= sequences."""
    with pytest.raises(InputError) as info:
        check_text(value, field="name", label="Họ và tên")
    assert info.value.field == "name"
    assert "Họ và tên" in info.value.message


def test_plain_vietnamese_text_passes() -> None:
    """Ordinary Vietnamese names, with = and ? on their own, pass unchanged."""
    assert check_text("Nguyễn Thị Ánh = ? An", field="name", label="x") == "Nguyễn Thị Ánh = ? An"


class _Resolver:
    """Stands in for the internet's DNS, which tests cannot reach."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def resolve(self, *_args: object, **_kwargs: object) -> object:
        raise self.error


def test_domain_without_mail_is_refused() -> None:
    """A domain that provably does not exist (NXDOMAIN) is refused by the MX check."""
    with pytest.raises(InputError, match="không nhận thư"):
        parse_address(
            "a@khong-ton-tai.vn", check_mx=True, resolver=_Resolver(dns.resolver.NXDOMAIN())
        )


@pytest.mark.parametrize(
    "error", [dns.exception.Timeout(), dns.resolver.NoNameservers(), OSError("network down")]
)
def test_dns_failure_never_blocks(error: Exception) -> None:
    """A DNS timeout or failure lets the address through."""
    address = parse_address("a@example.gov.vn", check_mx=True, resolver=_Resolver(error))
    assert address.normalized == "a@example.gov.vn"


def test_unreachable_resolver_never_blocks() -> None:
    """A real resolver pointed at a dead port fails fast and the address still passes."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = _free_port()
    resolver.lifetime = 0.5
    address = parse_address("a@example.gov.vn", check_mx=True, resolver=resolver)
    assert address.ascii == "a@example.gov.vn"


def test_suppression_text_is_the_normalized_lowercased_address() -> None:
    """What a suppression hash is taken of is one text however the address is spelt, and
    the unkeyed hash of rows written before keying is its SHA-256."""
    assert suppression_text("an@ví-dụ.vn") == "an@ví-dụ.vn"
    assert suppression_text(" An@XN--V-D-RMA6749A.VN") == "an@ví-dụ.vn"
    assert suppression_text("Binh@Example.gov.vn") == "binh@example.gov.vn"
    assert legacy_hash("an@ví-dụ.vn") == hashlib.sha256("an@ví-dụ.vn".encode()).hexdigest()


@pytest.mark.parametrize(
    "typed",
    ["An@EXAMPLE.gov.vn", " nguyen.van.an@Example.VN ", "an@xn--v-d-rma6749a.vn", "AN@VÍ-DỤ.VN"],
)
def test_a_parsed_key_lowercased_is_its_suppression_text(typed: str) -> None:
    """The subscribe path hashes its parsed key directly: it must find the same suppression."""
    key = parse_address(typed).normalized
    assert key.lower() == suppression_text(typed) == suppression_text(key)


def test_memory_limiter_counts_per_ip_and_window() -> None:
    """The in-process limiter allows `limit` hits per IP per window, then refuses until the next."""
    now = [1000.0]
    limiter = MemoryIPLimiter(limit=2, window_seconds=60, clock=lambda: now[0])
    assert [limiter.hit("1.1.1.1") for _ in range(3)] == [True, True, False]
    assert limiter.hit("2.2.2.2") is True
    now[0] += 60
    assert limiter.hit("1.1.1.1") is True


def test_redis_limiter_is_shared_between_processes(redis_url: str, redis_prefix: str) -> None:
    """Two limiters on one Redis (two web processes) share one count per IP."""
    first = RedisIPLimiter(redis_url, limit=3, window_seconds=600, prefix=redis_prefix)
    second = RedisIPLimiter(redis_url, limit=3, window_seconds=600, prefix=redis_prefix)
    try:
        hits = [first.hit("198.51.100.1"), second.hit("198.51.100.1"), first.hit("198.51.100.1")]
        assert hits == [True, True, True]
        assert second.hit("198.51.100.1") is False
        assert first.hit("198.51.100.2") is True
    finally:
        first.close()
        second.close()


def test_redis_outage_lets_requests_through() -> None:
    """With Redis unreachable the limiter lets the request through instead of failing the form."""
    limiter = RedisIPLimiter(f"redis://127.0.0.1:{_free_port()}/0", limit=1, window_seconds=60)
    try:
        assert limiter.hit("1.1.1.1") is True
    finally:
        limiter.close()


def test_client_key_groups_ipv6_by_64() -> None:
    """IPv6 addresses count per /64; IPv4 (mapped or not) per address; junk as itself."""
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff:1:2:3")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:203.0.113.9") == client_key("203.0.113.9") == "203.0.113.9"
    assert client_key("203.0.113.9") != client_key("203.0.113.10")
    assert client_key("unknown") == "unknown"


@pytest.fixture(params=["memory", "redis"])
def subscribe_limiter(
    request: pytest.FixtureRequest, settings_factory: Callable[..., Any]
) -> Iterator[Callable[..., SubscribeLimiter]]:
    """Build SubscribeLimiters from settings, in-process or on the real Redis."""
    made: list[SubscribeLimiter] = []
    redis_values: dict[str, str] = {}
    if request.param == "redis":
        redis_values = {
            "redis_url": request.getfixturevalue("redis_url"),
            "redis_prefix": request.getfixturevalue("redis_prefix"),
        }

    def make(**overrides: Any) -> SubscribeLimiter:
        settings = settings_factory(**redis_values, **overrides)
        limiter = create_subscribe_limiter(settings, prefix=settings.redis_prefix)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        limiter.close()


def test_one_ipv6_64_is_one_client(subscribe_limiter: Callable[..., SubscribeLimiter]) -> None:
    """Every address of one IPv6 /64 shares one count: rotating addresses gains nothing."""
    limiter = subscribe_limiter(subscribe_rate_limit=3)
    hits = [limiter.admit_client(f"2001:db8:aa:bb::{i:x}") for i in range(1, 5)]
    assert hits == [True, True, True, False]
    assert limiter.admit_client("2001:db8:aa:bc::1") is True  # the next /64 is someone else


def test_residents_behind_one_carrier_nat_can_all_subscribe(
    subscribe_limiter: Callable[..., SubscribeLimiter],
) -> None:
    """With the default settings, 80 residents with different addresses behind one IPv4
    address (a mobile carrier's NAT, a ward office) are all admitted in one window."""
    limiter = subscribe_limiter()
    admitted = [
        limiter.admit_client("203.0.113.50") and limiter.admit_address(f"dan{i}@example.vn")
        for i in range(80)
    ]
    assert all(admitted)


def test_one_address_is_capped_from_any_network(
    subscribe_limiter: Callable[..., SubscribeLimiter],
) -> None:
    """The same e-mail address is admitted SUBSCRIBE_ADDRESS_LIMIT times per window, whatever
    the IP and however it is capitalised; other addresses are not affected."""
    limiter = subscribe_limiter(subscribe_address_limit=3)
    typed = ["an@example.vn", " An@Example.vn ", "AN@EXAMPLE.VN", "an@example.vn"]
    hits = [
        limiter.admit_client(f"198.51.100.{i}") and limiter.admit_address(address)
        for i, address in enumerate(typed)
    ]
    assert hits == [True, True, True, False]
    assert limiter.admit_address("binh@example.vn") is True
