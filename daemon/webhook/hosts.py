"""What address a URL's host really names: pure parsing, no DNS.

Clients disagree about numeric hosts. The C library's ``inet_aton`` (used by
``getaddrinfo`` and so by asyncio) reads ``2130706433``, ``0177.0.0.1``, ``0x7f.1`` and
``127.1`` all as 127.0.0.1, and aiohttp before its June-2026 fix handed such hosts to
the socket without asking the resolver. So the guard does not ask the client: it reads
the host as ``inet_aton`` would (:func:`inet_aton`, a model of glibc's
``resolv/inet_addr.c``, checked against ``socket.inet_aton`` by property tests), after
undoing percent-encoding, IDNA and Unicode compatibility forms, and the sender then
connects to the canonical address it checked, never to the spelling it was given.

A host whose last label is a number (the WHATWG URL standard's "ends in a number") is
an IPv4 address or nothing: when ``inet_aton`` cannot read it, it is refused.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
_OCTAL = frozenset("01234567")
# isspace() in the C locale: inet_aton ignores everything after one of these.
_C_SPACE = frozenset(" \t\n\v\f\r")
# The largest value of the last part, by how many parts came before it.
_LAST_MAX = (0xFFFFFFFF, 0xFFFFFF, 0xFFFF, 0xFF)
# Label separators that IDNA (UTS #46) maps to "." as a browser or a resolver would.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_NUMBER_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class HostError(ValueError):
    """The host is not one we can read unambiguously; ``rule`` names why."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def _strtoul(text: str, i: int) -> tuple[int, int]:
    """C's ``strtoul(text + i, &end, 0)`` from a digit at ``i``: (value, end)."""
    if text[i : i + 2] in ("0x", "0X"):
        if i + 2 < len(text) and text[i + 2] in _HEX:
            j = i + 2
            while j < len(text) and text[j] in _HEX:
                j += 1
            return int(text[i + 2 : j], 16), j
        return 0, i + 1  # "0x" without hex digits: strtoul reads the "0" only
    if text[i] == "0":
        j = i + 1
        while j < len(text) and text[j] in _OCTAL:
            j += 1
        return (int(text[i:j], 8) if j > i + 1 else 0), j
    j = i
    while j < len(text) and text[j] in _DIGITS:
        j += 1
    return int(text[i:j]), j


def inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """The address glibc's ``inet_aton`` reads from ``text``, or None where it fails.

    One to four parts split by dots, each decimal, octal (leading 0) or hex (0x); the
    last part fills the remaining bytes (``127.1`` is 127.0.0.1). Like C, the text
    ends at a NUL, and anything after a trailing whitespace character is ignored.
    """
    text = text.split("\0", 1)[0]
    parts: list[int] = []
    i = 0
    while True:
        if i >= len(text) or text[i] not in _DIGITS:
            return None
        value, i = _strtoul(text, i)
        if value > 0xFFFFFFFF:
            return None
        if i < len(text) and text[i] == ".":
            if len(parts) > 2 or value > 0xFF:
                return None
            parts.append(value)
            i += 1
            continue
        break
    if i < len(text) and text[i] not in _C_SPACE:
        return None
    if value > _LAST_MAX[len(parts)]:
        return None
    word = value
    for index, part in enumerate(parts):
        word |= part << (24 - 8 * index)
    return ipaddress.IPv4Address(word)


@dataclass(frozen=True, slots=True)
class Host:
    """A host as the sender must connect to it: ``text`` for the URL, and the address
    when it is one (None: a name, judged on what it resolves to)."""

    text: str
    address: IPAddress | None


def _decode_labels(host: str) -> str:
    """``host`` with punycode labels decoded, Unicode compatibility forms folded
    (fullwidth digits, circled digits, ideographic full stops) and lower-cased."""
    labels = []
    for label in host.split("."):
        if label[:4].lower() == "xn--":
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                raise HostError("invalid-host", "callback host has a broken IDN label") from None
        labels.append(label)
    return unicodedata.normalize("NFKC", ".".join(labels)).translate(_DOTS).lower()


def _ipv6(raw_host: str) -> Host:
    try:
        address = ipaddress.IPv6Address(unquote(raw_host, errors="strict"))
    except (ValueError, UnicodeError):
        raise HostError("invalid-host", f"callback host {raw_host!r} is not an address") from None
    # A zone (fe80::1%eth0) stays as written: yarl would drop its percent-encoding.
    text = raw_host if address.scope_id else str(address)
    return Host(text, address)


def canonical_host(raw_host: str) -> Host:
    """Read ``raw_host`` (yarl's ``URL.raw_host``: ASCII, IPv6 without brackets).

    Raises HostError when it cannot be read as one address or one DNS name.
    """
    if ":" in raw_host:
        return _ipv6(raw_host)
    try:
        decoded = unquote(raw_host, errors="strict")
    except UnicodeError:
        raise HostError("invalid-host", "callback host is badly percent-encoded") from None
    decoded = _decode_labels(decoded)
    # One trailing dot is DNS's root label; the name (or number) is the same without it.
    decoded = decoded.removesuffix(".")
    if _NUMBER_LABEL.fullmatch(decoded.rsplit(".", 1)[-1]):
        address = inet_aton(decoded) if _NAME.fullmatch(decoded) else None
        if address is None:
            raise HostError(
                "malformed-ipv4", f"callback host {raw_host!r} ends in a number but is no address"
            )
        return Host(str(address), address)
    # A name goes to DNS as written (ASCII, IDN already punycode). No DNS name holds a
    # "%", a space or a backslash, and clients disagree about them: refused.
    if not _NAME.fullmatch(raw_host.removesuffix(".")):
        raise HostError("invalid-host", f"callback host {raw_host!r} is not a host name")
    return Host(raw_host, None)
