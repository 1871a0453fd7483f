"""The host parser the URL guard decides on: inet_aton as the C library reads it, and
every spelling of an address judged as that address."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from daemon.webhook.hosts import HostError, canonical_host, inet_aton
from daemon.webhook.urlguard import UrlRefused, guard_url


def c_inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """The C library's answer, through socket.inet_aton (its inet_aton, unchanged)."""
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


@st.composite
def numeric_parts(draw: st.DrawFn) -> str:
    """Dotted numbers as an attacker writes them: 1 to 5 parts, each decimal, octal or
    hex, in or out of range, with stray dots, letters and spaces."""
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        value = draw(st.integers(0, 2**33) | st.integers(0, 300))
        form = draw(st.sampled_from(["dec", "oct", "hex", "HEX", "0x", "junk"]))
        if form == "dec":
            text = str(value)
        elif form == "oct":
            text = "0" + format(value, "o")
        elif form == "hex":
            text = "0x" + format(value, "x")
        elif form == "HEX":
            text = "0X" + format(value, "X")
        elif form == "0x":
            text = "0x"
        else:
            text = draw(st.text("0123456789abcdefxX", max_size=6))
        parts.append(text)
    tail = draw(st.sampled_from(["", "", ".", " ", " junk", "\t", "x", "..", "\u0661"]))
    return ".".join(parts) + tail


@settings(max_examples=2000)
@given(text=numeric_parts())
@example(text="2130706433")
@example(text="0177.0.0.1")
@example(text="0x7f.1")
@example(text="127.1")
@example(text="0x")
@example(text="08.0.0.1")
@example(text="4294967296")
@example(text="127.0.0.1 tail")
def test_inet_aton_reads_structured_inputs_as_the_c_library(text: str) -> None:
    assert inet_aton(text) == c_inet_aton(text)


@settings(max_examples=2000)
@given(text=st.text(alphabet="0123456789xXaAfF. \t\n8\u0661\uff11", max_size=24))
def test_inet_aton_reads_any_text_as_the_c_library(text: str) -> None:
    assert inet_aton(text) == c_inet_aton(text)


@given(address=st.integers(0, 2**32 - 1))
def test_every_canonical_dotted_quad_reads_back(address: int) -> None:
    text = str(ipaddress.IPv4Address(address))
    host = canonical_host(text)
    assert host.address == ipaddress.IPv4Address(address)
    assert host.text == text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1"),
        ("%31%32%37.0.0.1", "127.0.0.1"),
        ("%32%31%33%30%37%30%36%34%33%33", "127.0.0.1"),
        ("10.0x1", "10.0.0.1"),
        ("xn--8g7ccp.0.0.1", "127.0.0.1"),  # punycode of fullwidth "１２７"
        ("::ffff:7f00:1", "::ffff:7f00:1"),
        ("0:0:0:0:0:ffff:7f00:1", "::ffff:7f00:1"),
    ],
)
def test_numeric_spellings_are_read_as_their_address(raw: str, expected: str) -> None:
    host = canonical_host(raw)
    assert host.text == expected
    assert host.address == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("256.0.0.1", "malformed-ipv4"),
        ("1.2.3.4.5", "malformed-ipv4"),
        ("08.0.0.1", "malformed-ipv4"),
        ("0x", "malformed-ipv4"),
        ("example.0x1", "malformed-ipv4"),
        ("x2c.example.123", "malformed-ipv4"),
        ("127.0.0.1 ", "invalid-host"),
        ("127.0.0.1%2f", "invalid-host"),
        ("%6c%6f%63%61%6c%68%6f%73%74", "invalid-host"),
        ("a\\b", "invalid-host"),
        ("", "invalid-host"),
        ("::zz", "invalid-host"),
    ],
)
def test_unreadable_hosts_are_refused_with_their_rule(raw: str, rule: str) -> None:
    with pytest.raises(HostError) as caught:
        canonical_host(raw)
    assert caught.value.rule == rule


@pytest.mark.parametrize("name", ["x2c.example.com", "localhost", "xn--q9jyb4c", "a-b_c.example."])
def test_names_stay_names(name: str) -> None:
    assert canonical_host(name).address is None
    assert canonical_host(name).text == name


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://2130706433:8080/hook", "loopback"),
        ("http://0177.0.0.1/hook", "loopback"),
        ("http://0x7f.1/hook", "loopback"),
        ("http://127.1/hook", "loopback"),
        ("http://0x7f.0.0x0.1/hook", "loopback"),
        ("http://127.0.0.1./hook", "loopback"),
        ("http://%31%32%37.0.0.1/hook", "loopback"),
        ("http://１２７.０.０.１/hook", "loopback"),
        ("http://127。0。0。1/hook", "loopback"),
        ("http://①②⑦.0.0.1/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://[::127.0.0.1]/hook", "loopback"),
        ("http://[64:ff9b::7f00:1]/hook", "loopback"),
        ("http://[64:ff9b::a00:1]/hook", "private"),
        ("http://[2002:7f00:1::]/hook", "loopback"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://0/hook", "unspecified"),
        ("http://[::]/hook", "unspecified"),
        ("http://167772161/hook", "private"),
        ("http://0xa9fea9fe/latest/meta-data", "link-local"),
        ("http://x2c.example@127.0.0.1/hook", "loopback"),
        ("http://x2c.example:443@0x7f.1/hook", "loopback"),
        ("http://x2c.example\\@127.0.0.1/hook", "not-a-url"),
        ("gopher://127.0.0.1/hook", "scheme"),
        ("http://x2c.example:0/hook", "invalid-port"),
    ],
)
def test_guard_judges_the_address_not_the_spelling(url: str, rule: str) -> None:
    with pytest.raises(UrlRefused) as caught:
        guard_url(url, allow_private=False)
    assert caught.value.rule == rule
    assert f"rule {rule}" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://2130706433:8080/hook?a=1", "http://127.0.0.1:8080/hook?a=1"),
        ("http://0x7f.1/hook", "http://127.0.0.1/hook"),
        ("http://user:pw@127.1:9/hook", "http://user:pw@127.0.0.1:9/hook"),
        ("https://x2c.example.com/hook", "https://x2c.example.com/hook"),
        ("http://[::ffff:127.0.0.1]/hook", "http://[::ffff:7f00:1]/hook"),
    ],
)
def test_guard_hands_back_the_canonical_url(url: str, expected: str) -> None:
    assert str(guard_url(url, allow_private=True)) == expected


def test_a_public_address_in_any_spelling_is_allowed() -> None:
    # 8.8.8.8 as a decimal number: a spelling is not a crime, the address decides
    assert str(guard_url("http://134744072/hook", allow_private=False)) == "http://8.8.8.8/hook"
