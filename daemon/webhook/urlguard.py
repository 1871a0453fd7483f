"""Callback URLs come from a partner's data: only http(s), and by default only public addresses.

The check happens where the socket is opened, not only before: a name that resolved to
a public address a minute ago may resolve to 127.0.0.1 now (DNS rebinding). So

* :class:`GuardedResolver` wraps aiohttp's resolver and drops every forbidden address
  it returns (none left: :class:`UrlRefused`) — every connection by name goes through it;
* aiohttp never asks the resolver about literal-IP hosts, and before its June-2026 fix
  not about numeric spellings like ``2130706433`` either, so the sender first calls
  :func:`guard_url`, which reads the host as the C library would (``hosts.py``), judges
  the address itself and hands back the URL with the canonical address to connect to;
  :func:`guard_trace_config` repeats that check on every request the session starts.

Redirects are never followed by the sender (a 3xx is a failed attempt), so the URL
checked is the only URL called.
"""

from __future__ import annotations

import ipaddress
import socket
from types import SimpleNamespace

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from daemon.webhook.hosts import HostError, IPAddress, canonical_host

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Ranges Python's flags do not all cover on 3.11: shared address space (carrier NAT)
# and the NAT64 prefixes, which map onto IPv4 addresses that may be private.
_EXTRA_BLOCKED = (
    ipaddress.ip_network("100.64.0.0/10"),
    _NAT64,
    ipaddress.ip_network("64:ff9b:1::/48"),
)


class UrlRefused(OSError):
    """The URL or an address it resolved to is not allowed; ``rule`` names the rule.

    An OSError so that aiohttp treats it like any failed lookup (it wraps it in
    ClientConnectorDNSError); the sender finds it again in the exception chain.
    """

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"refused by rule {rule}: {detail}")
        self.rule = rule


_ALLOW_HINT = "; set WEBHOOK_ALLOW_PRIVATE to allow"


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 one reaches, with the form's name, if it carries one."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    packed = int(address)
    # ::a.b.c.d (IPv4-compatible, deprecated but still routed by some stacks); :: and ::1
    # are IPv6's own unspecified and loopback addresses.
    if packed >> 32 == 0 and packed > 1:
        return "IPv4-compatible", ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    if address in _NAT64:
        return "NAT64", ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address.teredo is not None:
        return "Teredo", address.teredo[1]
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be called without allow_private, or None when it may be."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        if embedded is not None:
            # ::ffff:127.0.0.1 reaches 127.0.0.1: judge the IPv4 address it carries.
            inner = forbidden_reason(embedded[1])
            if inner is not None:
                return inner
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("non-public", any(address in net for net in _EXTRA_BLOCKED)),
        ("non-global", not address.is_global),
    )
    for reason, hit in checks:
        if hit:
            return reason
    return None


def parse_address(host: str) -> IPAddress | None:
    """``host`` as an address the way the C library reads it, or None for a name.

    Brackets and an IPv6 zone are allowed; numeric IPv4 forms (``2130706433``,
    ``0x7f.1``) are read as ``inet_aton`` reads them.
    """
    try:
        return canonical_host(host.strip("[]")).address
    except HostError:
        return None


def _refuse_address(host: str, address: IPAddress, allow_private: bool) -> None:
    if allow_private:
        return
    reason = forbidden_reason(address)
    if reason is None:
        return
    shown = str(address)
    if isinstance(address, ipaddress.IPv6Address) and (embedded := embedded_ipv4(address)):
        shown += f" ({embedded[0]} {embedded[1]})"
    if host != shown:
        shown = f"{host} = {shown}"
    raise UrlRefused(reason, f"callback address {shown} is {reason}{_ALLOW_HINT}")


def check_address(host: str, allow_private: bool) -> None:
    """Raise UrlRefused when ``host`` is an address (in any spelling) that is not allowed."""
    address = parse_address(host)
    if address is not None:
        _refuse_address(host, address, allow_private)


def guard_url(url: str | URL, allow_private: bool) -> URL:
    """The URL to call instead of ``url``, or UrlRefused: the checks that need no DNS.

    http(s) only, a host, a port that is not 0, and a host read as the C library reads
    it: an address in any spelling is judged as the address it is, and the URL returned
    names it canonically (127.0.0.1 for ``http://0x7f.1/``), so the client connects to
    exactly what was checked, whatever its own parsing. Names are checked on what they
    resolve to, by :class:`GuardedResolver`, when the connection is made.
    """
    try:
        parsed = url if isinstance(url, URL) else URL(url)
        port = parsed.explicit_port
    except (ValueError, TypeError) as exc:
        raise UrlRefused("not-a-url", f"callback URL is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        scheme = parsed.scheme or "(none)"
        raise UrlRefused("scheme", f"callback URL scheme {scheme!r} is not http(s)")
    if not parsed.raw_host:
        raise UrlRefused("no-host", "callback URL has no host")
    if port == 0:
        raise UrlRefused("invalid-port", "callback URL has port 0")
    try:
        host = canonical_host(parsed.raw_host)
    except HostError as exc:
        raise UrlRefused(exc.rule, str(exc)) from None
    if host.address is not None:
        _refuse_address(parsed.raw_host, host.address, allow_private)
    if host.text != parsed.raw_host:
        parsed = parsed.with_host(host.text)
    return parsed


def check_url(url: str | URL, allow_private: bool) -> None:
    """Raise UrlRefused when :func:`guard_url` would."""
    guard_url(url, allow_private)


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that keeps only allowed addresses of what the inner one returns."""

    def __init__(self, allow_private: bool = False, inner: AbstractResolver | None = None) -> None:
        self._allow_private = allow_private
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return results
        allowed = []
        refused = []
        for result in results:
            address = parse_address(result["host"])
            reason = "not an address" if address is None else forbidden_reason(address)
            if reason is None:
                allowed.append(result)
            else:
                refused.append(f"{result['host']} ({reason})")
        if not allowed:
            raise UrlRefused(
                "resolves-to-forbidden",
                f"callback host {host} resolves only to forbidden addresses: "
                + ", ".join(refused)
                + _ALLOW_HINT,
            )
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def guard_trace_config(allow_private: bool) -> aiohttp.TraceConfig:
    """A TraceConfig refusing, before any connection, a request whose URL is not allowed."""

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        check_url(params.url, allow_private)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return trace


def find_refusal(exc: BaseException) -> UrlRefused | None:
    """The UrlRefused behind ``exc`` (aiohttp wraps resolver errors), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, UrlRefused):
            return current
        seen.add(id(current))
        os_error = getattr(current, "os_error", None)
        if isinstance(os_error, UrlRefused):
            return os_error
        current = current.__cause__ or current.__context__
    return None
