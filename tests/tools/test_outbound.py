"""The outbound client's SSRF guard (reliability.md section I): every hostile URL is refused
before any connection is attempted, and what the operator allows gets through."""

from __future__ import annotations

import ipaddress

import pytest

from pathweaver.errors import OutboundError, OutboundRefused, OutboundTimeout
from pathweaver.tools.outbound import (
    AllowList,
    OutboundClient,
    OutboundPolicy,
    check_url,
    forbidden_reason,
    parse_address,
)
from tests.tools.servers import RecordingBackend, counting_listener, restful_target

# {port} is a loopback listener that counts connections; the others name addresses that
# are not on this machine, and run against a backend that records (never makes) attempts.
HOSTILE = [
    "http://127.0.0.1:{port}/",
    "http://localhost:{port}/",
    "http://localhost.:{port}/",
    "http://LocalHost:{port}/",
    "http://foo.localhost:{port}/",
    "http://127.0.0.1.:{port}/",
    "http://127.1:{port}/",
    "http://127.0.1:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f000001:{port}/",
    "http://0x7f.0x0.0x0.0x1:{port}/",
    "http://0x7f.1:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://017700000001:{port}/",
    "http://127.000.000.001:{port}/",
    "http://user:secret@127.0.0.1:{port}/",
    "http://[::1]:{port}/",
    "http://[0:0:0:0:0:0:0:1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[::127.0.0.1]:{port}/",
    "http://[64:ff9b::127.0.0.1]:{port}/",
    "http://[2002:7f00:1::1]:{port}/",
    "http://[::1%25lo]:{port}/",
    "http://0.0.0.0:{port}/",
    "http://0:{port}/",
    "http://[::]:{port}/",
    "ftp://127.0.0.1:{port}/",
    "gopher://127.0.0.1:{port}/_GET",
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://[::ffff:169.254.169.254]/",
    "http://169.254.170.2/v2/credentials",
    "http://[fd00:ec2::254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://198.18.0.1/",
    "http://[64:ff9b::a00:1]/",
    "http:///nohost",
]


def test_the_table_has_at_least_30_urls() -> None:
    assert len(HOSTILE) >= 30


async def test_every_hostile_url_is_refused_before_any_connection() -> None:
    recorder = RecordingBackend()
    async with counting_listener() as listener:
        real = OutboundClient()
        recorded = OutboundClient(network_backend=recorder)
        for template in HOSTILE:
            url = template.format(port=listener.port)
            for client in (real, recorded) if "{port}" in template else (recorded,):
                with pytest.raises(OutboundError) as caught:
                    await client.request("GET", url)
                assert isinstance(caught.value, OutboundRefused), (url, caught.value)
        await real.aclose()
        await recorded.aclose()
    assert listener.connections == 0
    assert recorder.attempts == []


async def test_a_resolver_answering_a_private_address_is_refused() -> None:
    """DNS rebinding: a public-looking name whose answer is private, or partly private."""
    recorder = RecordingBackend()
    answers = {
        "rebind.test": ["127.0.0.1"],
        "mixed.test": ["93.184.216.34", "10.1.2.3"],
        "mapped.test": ["::ffff:192.168.0.1"],
        "metadata.test": ["169.254.169.254"],
        "v6.test": ["fe80::1%eth0"],
    }
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[host]

    client = OutboundClient(resolver=resolver, network_backend=recorder)
    for host in answers:
        with pytest.raises(OutboundRefused, match="refused"):
            await client.request("GET", f"http://{host}/")
    await client.aclose()
    assert recorder.attempts == []
    assert asked == list(answers)


async def test_the_connection_goes_to_the_vetted_address_and_keeps_the_host_name() -> None:
    """The resolver is asked once; the socket goes to its answer; Host stays the name."""
    async with restful_target() as target:
        calls: list[str] = []

        async def resolver(host: str, port: int) -> list[str]:
            calls.append(host)
            return ["127.0.0.1"]

        policy = OutboundPolicy(allow=AllowList.parse("tools.internal"))
        client = OutboundClient(policy, resolver=resolver)
        response = await client.request("GET", f"http://tools.internal:{target.port}/echo/x")
        await client.aclose()
    assert response.status == 200
    assert response.address == "127.0.0.1"
    assert calls == ["tools.internal"]
    assert target.requests[0]["headers"]["host"] == f"tools.internal:{target.port}"


async def test_redirects_are_not_followed() -> None:
    async with restful_target() as target, counting_listener() as second:
        client = OutboundClient(OutboundPolicy(allow=AllowList.parse("127.0.0.1/32")))
        to = f"http://127.0.0.1:{second.port}/"
        response = await client.request("GET", target.url(f"/redirect?to={to}"))
        await client.aclose()
    assert response.status == 302
    assert response.headers["location"] == to
    assert second.connections == 0


async def test_the_allow_list_lets_a_loopback_server_through() -> None:
    async with restful_target() as target:
        for entry in ("127.0.0.1/32", "127.0.0.0/8", "localhost"):
            client = OutboundClient(OutboundPolicy(allow=AllowList.parse(entry)))
            host = "localhost" if entry == "localhost" else "127.0.0.1"
            response = await client.request("GET", f"http://{host}:{target.port}/echo/ok")
            await client.aclose()
            assert response.status == 200, entry


async def test_an_allowed_host_name_does_not_open_the_metadata_address() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["169.254.169.254"]

    recorder = RecordingBackend()
    client = OutboundClient(
        OutboundPolicy(allow=AllowList.parse("tools.internal")), resolver=resolver, network_backend=recorder
    )
    with pytest.raises(OutboundRefused, match="metadata"):
        await client.request("GET", "http://tools.internal/")
    await client.aclose()
    assert recorder.attempts == []


async def test_ports_can_be_restricted() -> None:
    async with counting_listener() as listener:
        policy = OutboundPolicy(allow=AllowList.parse("127.0.0.1/32"), ports=frozenset({443}))
        client = OutboundClient(policy)
        with pytest.raises(OutboundRefused, match="port"):
            await client.request("GET", f"http://127.0.0.1:{listener.port}/")
        await client.aclose()
    assert listener.connections == 0


async def test_responses_are_capped_and_read_stops() -> None:
    async with restful_target() as target:
        policy = OutboundPolicy(allow=AllowList.parse("127.0.0.1/32"), max_response_bytes=10_000)
        client = OutboundClient(policy)
        huge = await client.request("GET", target.url("/huge"))
        bomb = await client.request("GET", target.url("/bomb"))
        await client.aclose()
    assert huge.truncated and len(huge.body) == 10_000
    assert bomb.truncated and bomb.body == b"0" * 10_000


async def test_read_and_total_timeouts() -> None:
    async with restful_target() as target:
        allow = AllowList.parse("127.0.0.1/32")
        client = OutboundClient(OutboundPolicy(allow=allow, read_timeout=0.3, total_timeout=5))
        with pytest.raises(OutboundTimeout, match="stopped answering"):
            await client.request("GET", target.url("/slow?seconds=3"))
        await client.aclose()
        client = OutboundClient(OutboundPolicy(allow=allow, read_timeout=1, total_timeout=0.5))
        with pytest.raises(OutboundTimeout, match="no complete answer"):
            await client.request("GET", target.url("/trickle"))
        await client.aclose()


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("1.2.3", "1.2.0.3"),
        ("[::1]", "::1"),
        ("8.8.8.8.", "8.8.8.8"),
        ("example.com", None),
        ("1e100", None),
    ],
)
def test_address_spellings(spelling: str, address: str | None) -> None:
    parsed = parse_address(spelling)
    assert (str(parsed) if parsed else None) == address


@pytest.mark.parametrize("spelling", ["256.1.1.1", "0x100.1", "1.2.3.4.5", "099.1.1.1"])
def test_malformed_numeric_hosts_are_refused(spelling: str) -> None:
    with pytest.raises(OutboundRefused):
        parse_address(spelling)


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def test_check_url_accepts_public_urls_without_dns() -> None:
    assert check_url("https://api.example.com/v1/x?y=1", OutboundPolicy()).host == "api.example.com"


def test_allow_list_parsing_names_a_bad_entry() -> None:
    with pytest.raises(ValueError, match="neither a CIDR nor a host name"):
        AllowList.parse("10.0.0.0/8, bad host!")
    parsed = AllowList.parse(" 10.0.0.0/8 , tools.internal, *.corp.example ,[fd00::]/8")
    assert parsed.allows_host("a.corp.example") and parsed.allows_host("tools.internal.")
    assert not parsed.allows_host("corp.example.evil")
    assert parsed.allows_address(ipaddress.ip_address("10.9.9.9"))
