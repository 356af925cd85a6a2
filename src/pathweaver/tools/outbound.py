"""The one HTTP client for every URL a user configured: tools, MCP servers, webhooks.

What it guarantees (reliability.md section I):

* only ``http`` and ``https``, and only the ports the operator allows (all by default);
* the host is resolved (``getaddrinfo`` on the event loop, or an injected resolver) and
  **every** address it resolves to is vetted; one refused address refuses the request.
  Refused: private, loopback, link-local, shared (CGNAT 100.64/10), "this network" (0/8),
  multicast, reserved, documentation, benchmarking, broadcast, unspecified, the cloud
  metadata addresses, IPv6 unique-local and site-local, and the IPv4-mapped, -compatible,
  6to4, Teredo and NAT64 forms of refused IPv4 addresses. A literal address is read in every
  spelling ``inet_aton`` accepts (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``),
  so no spelling reaches a resolver that would read it differently;
* the connection goes to the address that was vetted (the check runs inside the
  connection pool's network backend, which is handed the vetted IP), while TLS SNI,
  certificate checks and the ``Host`` header keep the hostname: a second DNS answer cannot
  rebind the connection;
* no redirects (a 3xx comes back as the response), no proxies from the environment;
* connect, read and total timeouts, and a cap on the decoded response size: the body is
  streamed and reading stops at the cap (``truncated`` says so).

The operator's allow-list (``PATHWEAVER_OUTBOUND_ALLOW``: CIDRs and host names, ``*.``
for subdomains) lets self-hosters reach internal tools: an address inside an allowed
network, or any address of an allowed host name, passes. The metadata addresses pass only
when an allowed *network* contains them (an allowed host name is not enough).

Built on ``httpx2``/``httpcore2`` (the client the ``mcp`` SDK takes): the guard is an
``httpcore2`` network backend, so MCP traffic goes through the same checks
(:meth:`OutboundClient.http_client`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpcore2
import httpx2

from pathweaver.errors import (
    OutboundConnectTimeout,
    OutboundError,
    OutboundNotSent,
    OutboundRefused,
    OutboundTimeout,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``(host, port) -> addresses``: the system resolver by default, a stub in tests.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

SCHEMES = ("http", "https")
USER_AGENT = "Pathweaver"

_METADATA: dict[IPAddress, str] = {
    ipaddress.ip_address("169.254.169.254"): "the cloud metadata service",
    ipaddress.ip_address("169.254.170.2"): "the container credentials service",
    ipaddress.ip_address("fd00:ec2::254"): "the cloud metadata service (IPv6)",
}

_V4_BLOCKS: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), why)
    for net, why in (
        ("0.0.0.0/8", "a 'this network' address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a 6to4 relay address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)

_V6_BLOCKS: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), why)
    for net, why in (
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("100::/64", "a discard address"),
        ("2001:db8::/32", "a documentation address"),
        ("fc00::/7", "a unique-local (private) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

#: Names that mean this machine, refused without asking a resolver (RFC 6761 and habit).
_LOCAL_NAMES = (
    "localhost",
    "localhost.localdomain",
    "ip6-localhost",
    "ip6-loopback",
    "metadata.google.internal",
)


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be called, or None when it is a public address."""
    if address in _METADATA:
        return _METADATA[address]
    if isinstance(address, ipaddress.IPv4Address):
        for network, why in _V4_BLOCKS:
            if address in network:
                return why
        if address == ipaddress.IPv4Address("255.255.255.255"):
            return "the broadcast address"
        return None if address.is_global else "not a globally reachable address"
    address = ipaddress.IPv6Address(int(address))  # drop a zone id: a scope never makes it public
    for network6, why6 in _V6_BLOCKS:
        if address in network6:
            return why6
    for form, embedded in _embedded_ipv4(address):
        inner = forbidden_reason(embedded)
        if inner:
            return f"the {form} form of {embedded}, {inner}"
        if form in ("IPv4-mapped", "IPv4-compatible"):
            return f"an {form} IPv6 address (call the IPv4 address itself)"
    return None if address.is_global else "not a globally reachable address"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    last32 = ipaddress.IPv4Address(address.packed[-4:])
    if address in _MAPPED:
        return [("IPv4-mapped", last32)]
    if address in _COMPATIBLE:
        return [("IPv4-compatible", last32)]
    if address in _NAT64:
        return [("NAT64", last32)]
    if address.sixtofour is not None:
        return [("6to4", address.sixtofour)]
    if address.teredo is not None:
        server, client = address.teredo
        return [("Teredo", client if forbidden_reason(client) else server)]
    return []


def parse_address(host: str) -> IPAddress | None:
    """``host`` as an IP address in any spelling a resolver would accept, or None for a name.

    Brackets and trailing dots are ignored. IPv4 may be written the ``inet_aton`` ways: one
    to four parts, each decimal, octal (leading 0) or hex (0x), the last part filling the
    remaining bytes (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``). A host that
    looks numeric but does not fit is refused rather than passed to a resolver.
    """
    host = host.strip().removeprefix("[").removesuffix("]").rstrip(".")
    if "%" in host:
        raise OutboundRefused("addresses with a zone id (%) are not allowed")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.split(".")
    if not host or not all(_looks_numeric(p) for p in parts):
        return None
    try:
        numbers = [
            int(p, 16)
            if p.lower().startswith("0x")
            else int(p, 8)
            if len(p) > 1 and p.startswith("0")
            else int(p)
            for p in parts
        ]
    except ValueError:
        raise OutboundRefused(f"{host!r} is a malformed IP address") from None
    if len(numbers) > 4 or any(n < 0 for n in numbers):
        raise OutboundRefused(f"{host!r} is a malformed IP address")
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        raise OutboundRefused(f"{host!r} is a malformed IP address")
    value = 0
    for n in head:
        value = value * 256 + n
    value = value * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(value)


def _looks_numeric(part: str) -> bool:
    lowered = part.lower()
    if lowered.startswith("0x"):
        return all(c in "0123456789abcdef" for c in lowered[2:])
    return part.isdigit()


@dataclass(frozen=True)
class AllowList:
    """The operator's exceptions: networks (CIDRs) and host names (``*.`` for subdomains)."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: str | Iterable[str]) -> AllowList:
        """From ``"10.0.0.0/8, tools.internal, *.corp.example"``; ValueError names a bad entry."""
        items = entries.split(",") if isinstance(entries, str) else list(entries)
        networks: list[IPNetwork] = []
        hosts: list[str] = []
        for raw in items:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.removeprefix("[").replace("]", ""), strict=False))
                continue
            except ValueError:
                pass
            name = entry.removeprefix("*.")
            if not name or any(
                not label or not all(c.isalnum() or c in "-_" for c in label) for label in name.split(".")
            ):
                raise ValueError(
                    f"outbound allow-list entry {raw.strip()!r} is neither a CIDR nor a host name"
                )
            hosts.append(entry)
        return cls(tuple(networks), tuple(hosts))

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for entry in self.hosts:
            if entry.startswith("*."):
                if host.endswith(entry[1:]):
                    return True
            elif host == entry:
                return True
        return False

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)


@dataclass(frozen=True)
class OutboundPolicy:
    """Limits for calls to user-configured URLs (see the module docstring)."""

    allow: AllowList = field(default_factory=AllowList)
    ports: frozenset[int] = frozenset()
    """Ports that may be called; empty: any port."""
    connect_timeout: float = 5.0
    """Seconds to resolve and connect."""
    read_timeout: float = 15.0
    """Seconds to wait for each piece of the response."""
    total_timeout: float = 30.0
    """Seconds for the whole exchange, body included."""
    max_response_bytes: int = 1_000_000
    """Decoded body bytes kept; reading stops past this (the response is marked truncated)."""

    def timeout(self) -> httpx2.Timeout:
        return httpx2.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.read_timeout,
            pool=self.connect_timeout,
        )


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of ``host``, from the event loop's ``getaddrinfo`` (runs in a thread)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: str, policy: OutboundPolicy) -> httpx2.URL:
    """The parsed URL, or :class:`OutboundRefused` for what can be refused without DNS.

    Scheme, port, user-info-free host, literal addresses in every spelling, and the names
    of this machine. Resolution and the vetting of resolved addresses happen at connect
    time (:class:`GuardedBackend`), which is the check that counts; this one gives an early,
    clear refusal (and is what the management API runs when a tool is saved).
    """
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError, ValueError) as exc:
        raise OutboundRefused(f"{url!r} is not a valid URL: {exc}") from None
    if parsed.scheme not in SCHEMES:
        raise OutboundRefused(
            f"only http and https URLs may be called, not {parsed.scheme or 'a relative URL'!r}"
        )
    host = parsed.raw_host.decode("ascii", errors="replace")
    if not host:
        raise OutboundRefused(f"{url!r} has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if policy.ports and port not in policy.ports:
        allowed = ", ".join(str(p) for p in sorted(policy.ports))
        raise OutboundRefused(f"port {port} is not allowed (allowed ports: {allowed})")
    _vet_literal_or_name(host, policy)
    return parsed


def _vet_literal_or_name(host: str, policy: OutboundPolicy) -> IPAddress | None:
    address = parse_address(host)
    if address is not None:
        _vet_address(address, host, policy, host_allowed=False)
        return address
    name = host.lower().rstrip(".")
    if policy.allow.allows_host(name):
        return None
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        raise OutboundRefused(f"{host!r} names this machine; calls to it are not allowed")
    return None


def _vet_address(address: IPAddress, host: str, policy: OutboundPolicy, *, host_allowed: bool) -> None:
    if policy.allow.allows_address(address):
        return
    why = forbidden_reason(address)
    if why is None or (host_allowed and address not in _METADATA):
        return
    shown = str(address) if str(address) == host.strip("[]") else f"{host!r} ({address})"
    raise OutboundRefused(
        f"{shown} is {why}; calls to it are refused (an operator can allow it with PATHWEAVER_OUTBOUND_ALLOW)"
    )


async def vetted_addresses(host: str, port: int, policy: OutboundPolicy, resolver: Resolver) -> list[str]:
    """The addresses to connect to for ``host``: all vetted, or :class:`OutboundRefused`."""
    literal = _vet_literal_or_name(host, policy)
    if literal is not None:
        return [str(literal)]
    host_allowed = policy.allow.allows_host(host)
    try:
        resolved = await asyncio.wait_for(resolver(host, port), timeout=policy.connect_timeout)
    except TimeoutError:
        raise OutboundConnectTimeout(
            f"resolving {host!r} took longer than {policy.connect_timeout:g}s"
        ) from None
    except OSError as exc:
        raise OutboundNotSent(f"cannot resolve {host!r}: {exc.strerror or exc}") from None
    if not resolved:
        raise OutboundNotSent(f"{host!r} resolves to no address")
    addresses: list[str] = []
    for text in resolved:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise OutboundRefused(f"{host!r} resolved to {text!r}, which is not an IP address") from None
        _vet_address(address, host, policy, host_allowed=host_allowed)
        addresses.append(str(address))
    return addresses


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """An ``httpcore2`` network backend that connects only to vetted addresses.

    httpcore2 hands it the URL's host; it resolves and vets that host and opens the socket
    to the vetted IP itself. TLS is then started by httpcore2 with ``server_hostname`` set to
    the URL's host, so SNI and certificate checks keep the name.
    """

    def __init__(
        self, policy: OutboundPolicy, resolver: Resolver, inner: httpcore2.AsyncNetworkBackend | None = None
    ):
        self.policy = policy
        self.resolver = resolver
        self.inner = inner or httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        if self.policy.ports and port not in self.policy.ports:
            raise OutboundRefused(f"port {port} is not allowed")
        addresses = await vetted_addresses(host, port, self.policy, self.resolver)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's interface)
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise OutboundRefused("unix sockets may not be called")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _GuardedTransport(httpx2.AsyncHTTPTransport):
    """The stock transport with its connection pool built on :class:`GuardedBackend`.

    httpx2's transport takes no network backend, so the pool it built is replaced by an
    equivalent one that has it (the same attribute httpx2 itself uses).
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        resolver: Resolver,
        inner: httpcore2.AsyncNetworkBackend | None,
        ssl_context: ssl.SSLContext,
    ):
        super().__init__(verify=ssl_context, trust_env=False, retries=0)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=50,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy, resolver, inner),
        )


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool
    elapsed_ms: float
    address: str | None
    """The IP the connection went to (None when a reused connection did not say)."""

    def text(self) -> str:
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


class OutboundClient:
    """Calls user-configured URLs under an :class:`OutboundPolicy`. One per application."""

    def __init__(
        self,
        policy: OutboundPolicy | None = None,
        *,
        resolver: Resolver | None = None,
        network_backend: httpcore2.AsyncNetworkBackend | None = None,
    ):
        """``resolver`` and ``network_backend`` (what opens sockets once an address is
        vetted) are for tests: a stub resolver, a backend that records connection attempts."""
        self.policy = policy or OutboundPolicy()
        self.resolver = resolver or system_resolver
        self.network_backend = network_backend
        self._ssl_context: ssl.SSLContext | None = None
        self._client = self.http_client()

    def http_client(self, headers: Mapping[str, str] | None = None) -> httpx2.AsyncClient:
        """A new ``httpx2.AsyncClient`` under the same guard (for the MCP SDK); the caller closes it."""
        return httpx2.AsyncClient(
            transport=_GuardedTransport(self.policy, self.resolver, self.network_backend, self._ssl()),
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            timeout=self.policy.timeout(),
            follow_redirects=False,
            trust_env=False,
        )

    def _ssl(self) -> ssl.SSLContext:
        # Loading the CA store takes a quarter of a second: once per client, shared.
        if self._ssl_context is None:
            self._ssl_context = httpx2.create_ssl_context(trust_env=False)
        return self._ssl_context

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> OutboundResponse:
        """Send one request; never follows redirects. Raises only :class:`OutboundError` kinds."""
        check_url(url, self.policy)
        began = time.perf_counter()
        sent = {"Accept-Encoding": "gzip, deflate", **(headers or {})}
        try:
            async with asyncio.timeout(self.policy.total_timeout):
                request = self._client.build_request(
                    method, url, headers=sent, content=content, params=params
                )
                response = await self._client.send(request, stream=True)
                try:
                    peer = _peer(response)
                    body, truncated = await _read_capped(response, self.policy.max_response_bytes)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise OutboundTimeout(f"no complete answer within {self.policy.total_timeout:g}s") from None
        except httpx2.ConnectTimeout:
            raise OutboundConnectTimeout(
                f"could not connect within {self.policy.connect_timeout:g}s"
            ) from None
        except httpx2.TimeoutException:
            raise OutboundTimeout(f"the server stopped answering for {self.policy.read_timeout:g}s") from None
        except httpx2.ConnectError as exc:
            raise OutboundNotSent(f"ConnectError: {exc}" if str(exc) else "ConnectError") from None
        except httpx2.HTTPError as exc:
            raise OutboundError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
        return OutboundResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=body,
            truncated=truncated,
            elapsed_ms=(time.perf_counter() - began) * 1000,
            address=peer,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def _peer(response: httpx2.Response) -> str | None:
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    return str(peer[0]) if isinstance(peer, tuple) and peer else None


async def _read_capped(response: httpx2.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` decoded bytes; decompression is bounded too (no zip bombs)."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        decoder: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding in ("identity", ""):
        decoder = None
    else:
        raise OutboundError(f"unsupported Content-Encoding {encoding!r}")
    body = bytearray()
    async for raw in response.aiter_raw():
        if decoder is None:
            body += raw
        else:
            try:
                body += decoder.decompress(raw, limit + 1 - len(body))
            except zlib.error as exc:
                raise OutboundError(f"the response body is not valid {encoding}: {exc}") from None
        if len(body) > limit:
            return bytes(body[:limit]), True
    return bytes(body), False


def policy_from_settings(settings: object) -> OutboundPolicy:
    """The policy the settings describe (``outbound_*``; defaults where a setting is absent)."""
    allow = getattr(settings, "outbound_allow", "") or ""
    ports = getattr(settings, "outbound_ports", "") or ""
    if isinstance(ports, str):
        ports = [p for p in (part.strip() for part in ports.split(",")) if p]
    defaults = OutboundPolicy()
    return OutboundPolicy(
        allow=AllowList.parse(allow if isinstance(allow, str) else list(allow)),
        ports=frozenset(int(p) for p in ports),
        connect_timeout=float(getattr(settings, "outbound_connect_timeout", defaults.connect_timeout)),
        read_timeout=float(getattr(settings, "outbound_read_timeout", defaults.read_timeout)),
        total_timeout=float(getattr(settings, "outbound_total_timeout", defaults.total_timeout)),
        max_response_bytes=int(getattr(settings, "outbound_max_response_bytes", defaults.max_response_bytes)),
    )
