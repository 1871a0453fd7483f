"""Callback URLs come from a partner's data: only http(s), and by default only public addresses.

The check happens where the socket is opened, not only before: a name that resolved to
a public address a minute ago may resolve to 127.0.0.1 now (DNS rebinding). So

* :class:`GuardedResolver` wraps aiohttp's resolver and drops every forbidden address
  it returns (none left: :class:`UrlRefused`) — every connection by name goes through it;
* aiohttp never asks the resolver about literal-IP hosts, so :func:`guard_trace_config`
  checks the URL of every request the session starts (scheme, host, literal address).

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

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges Python's flags do not all cover on 3.11: shared address space (carrier NAT)
# and the NAT64 prefix, which maps onto IPv4 addresses that may be private.
_EXTRA_BLOCKED = (
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)


class UrlRefused(OSError):
    """The URL or an address it resolved to is not allowed.

    An OSError so that aiohttp treats it like any failed lookup (it wraps it in
    ClientConnectorDNSError); the sender finds it again in the exception chain.
    """


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be called without allow_private, or None when it may be."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            # ::ffff:127.0.0.1 reaches 127.0.0.1: judge the IPv4 address it carries.
            return forbidden_reason(mapped)
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
    """``host`` as an IP address (brackets and IPv6 zone allowed), or None for a name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def check_address(host: str, allow_private: bool) -> None:
    """Raise UrlRefused when ``host`` is a literal address that is not allowed."""
    if allow_private:
        return
    address = parse_address(host)
    if address is None:
        return
    reason = forbidden_reason(address)
    if reason is not None:
        raise UrlRefused(f"callback address {host} is {reason}; set WEBHOOK_ALLOW_PRIVATE to allow")


def check_url(url: str | URL, allow_private: bool) -> None:
    """The checks that need no DNS: http(s), a host, and no forbidden literal address.

    Names are checked when they are resolved, by :class:`GuardedResolver`.
    """
    try:
        parsed = url if isinstance(url, URL) else URL(url)
    except (ValueError, TypeError) as exc:
        raise UrlRefused(f"callback URL is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise UrlRefused(f"callback URL scheme {parsed.scheme or '(none)'!r} is not http(s)")
    if not parsed.host:
        raise UrlRefused("callback URL has no host")
    check_address(parsed.host, allow_private)


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
                f"callback host {host} resolves only to forbidden addresses: "
                + ", ".join(refused)
                + "; set WEBHOOK_ALLOW_PRIVATE to allow"
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
