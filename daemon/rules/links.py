"""Platforms and video links: the rules of spec sections 2 and 5, as pure functions.

The scan applies the same rules inside PostgreSQL (``migrations/0005_link_functions.sql``)
so that a million completions never cross the wire; ``tests/rules/test_links.py`` checks that
both sides agree on every case here and on generated links.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Platform = Literal["yt", "tt", "dy"]
PLATFORMS: tuple[Platform, ...] = ("yt", "tt", "dy")
OTHER: Literal["other"] = "other"

_ALIASES: dict[str, Platform] = {
    "youtube": "yt",
    "yt": "yt",
    "tiktok": "tt",
    "tt": "tt",
    "douyin": "dy",
    "dy": "dy",
    "抖音": "dy",
}
_YOUTUBE_VIDEO_HOSTS = frozenset(
    {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
)
_YOUTU_BE_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
_SHORT_HOSTS = frozenset({"vm.tiktok.com", "vt.tiktok.com", "v.douyin.com"})
_YOUTUBE_ID_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-")
_SEGMENT_ENDS = "/?#&"
# What the SQL side trims too (btrim with these), so both agree on odd whitespace.
_BLANKS = " \t\r\n"


@dataclass(frozen=True, slots=True)
class VideoRef:
    """One video on one platform: what a fetch asks for and what the sums count once."""

    platform: Platform
    video_id: str


@dataclass(frozen=True, slots=True)
class _Parts:
    host: str
    path: str
    query: str


def platform_alias(value: str | None) -> Platform | None:
    """The platform a ``user_tasks.platform`` value names, if it names one of the three."""
    if value is None:
        return None
    return _ALIASES.get(value.strip(_BLANKS).lower())


def _authority_and_tail(link: str) -> tuple[str, str]:
    """The link trimmed and without its scheme, cut where its authority ends."""
    rest = link.strip(_BLANKS)
    if "://" in rest:
        rest = rest.split("://", 1)[1]
    end = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if 0 <= i < end:
            end = i
    return rest[:end], rest[end:]


def _split(link: str) -> _Parts:
    authority, tail = _authority_and_tail(link)
    host = authority.rsplit("@", 1)[-1].split(":", 1)[0].lower()
    path = tail.split("#", 1)[0].split("?", 1)[0]
    query = tail.split("#", 1)[0].split("?", 1)[1] if "?" in tail.split("#", 1)[0] else ""
    return _Parts(host, path, query)


def _is_or_under(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def platform_of_host(host: str) -> Platform | None:
    if _is_or_under(host, "youtube.com") or _is_or_under(host, "youtu.be"):
        return "yt"
    if _is_or_under(host, "tiktok.com"):
        return "tt"
    if _is_or_under(host, "douyin.com") or _is_or_under(host, "iesdouyin.com"):
        return "dy"
    return None


def detect_platform(platform: str | None, link: str | None) -> Platform | Literal["other"]:
    """Spec section 2: the column when it names a platform, else the link's host, else other."""
    named = platform_alias(platform)
    if named is not None:
        return named
    if link is None:
        return OTHER
    return platform_of_host(_split(link).host) or OTHER


def _segment_after(text: str, marker: str) -> str | None:
    i = text.find(marker)
    if i < 0:
        return None
    seg = text[i + len(marker) :]
    for ch in _SEGMENT_ENDS:
        seg = seg.split(ch, 1)[0]
    return seg


def _digits(seg: str | None) -> str | None:
    return seg if seg and seg.isascii() and seg.isdigit() else None


def _youtube_id(parts: _Parts) -> str | None:
    seg: str | None = None
    if parts.host in _YOUTU_BE_HOSTS:
        seg = _segment_after(parts.path, "/")
    elif parts.host in _YOUTUBE_VIDEO_HOSTS:
        if parts.path in ("/watch", "/watch/"):
            seg = _segment_after("&" + parts.query, "&v=")
        else:
            for marker in ("/shorts/", "/live/", "/embed/"):
                if parts.path.startswith(marker):
                    seg = _segment_after(parts.path, marker)
                    break
    if seg is not None and len(seg) == 11 and set(seg) <= _YOUTUBE_ID_CHARS:
        return seg
    return None


def _tiktok_id(parts: _Parts) -> str | None:
    if "/video/" in parts.path:
        return _digits(_segment_after(parts.path, "/video/"))
    if "/photo/" in parts.path:
        return _digits(_segment_after(parts.path, "/photo/"))
    if parts.host == "m.tiktok.com" and parts.path.startswith("/v/"):
        seg = _segment_after(parts.path, "/v/") or ""
        return _digits(seg.removesuffix(".html"))
    return None


def _douyin_id(parts: _Parts) -> str | None:
    if "/video/" in parts.path:
        return _digits(_segment_after(parts.path, "/video/"))
    if "/note/" in parts.path:
        return _digits(_segment_after(parts.path, "/note/"))
    return _digits(_segment_after("&" + parts.query, "&modal_id="))


def is_short_link(link: str | None) -> bool:
    """A share link that names no video until its redirect is followed."""
    if link is None:
        return False
    parts = _split(link)
    if parts.host in _SHORT_HOSTS:
        return True
    return _is_or_under(parts.host, "tiktok.com") and parts.path.startswith("/t/")


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def short_link_key(link: str) -> str:
    """The form short links are compared in while unresolved, and remembered by.

    Trimmed, scheme dropped (``https://`` written), host lower-cased (ASCII only, as
    the SQL side does), no trailing slash: ``dailystats_short_link`` in migration 0008.
    """
    authority, tail = _authority_and_tail(link)
    return ("https://" + authority.translate(_ASCII_LOWER) + tail).rstrip("/")


def parse_video_link(link: str | None) -> VideoRef | None:
    """The video a full link names, judged by its host alone; None for short links and junk."""
    if link is None or is_short_link(link):
        return None
    parts = _split(link)
    platform = platform_of_host(parts.host)
    video_id: str | None
    if platform == "yt":
        video_id = _youtube_id(parts)
    elif platform == "tt":
        video_id = _tiktok_id(parts)
    elif platform == "dy":
        video_id = _douyin_id(parts)
    else:
        return None
    return VideoRef(platform, video_id) if video_id is not None else None


@dataclass(frozen=True, slots=True)
class Classified:
    """What the scan needs of one completion (``dailystats_classify`` in SQL)."""

    platform: Platform | Literal["other"]
    video_id: str | None
    is_short: bool


def classify_completion(platform: str | None, link: str | None) -> Classified:
    """The completion's platform and the video it counts for.

    The video is only taken from a link of the completion's own platform: a YouTube
    completion whose link is a TikTok video names no YouTube video, so it stands alone
    (section 3) rather than borrowing another platform's stats.
    """
    detected = detect_platform(platform, link)
    if link is None or platform_of_host(_split(link).host) != detected:
        return Classified(detected, None, False)
    if is_short_link(link):
        return Classified(detected, None, True)
    ref = parse_video_link(link)
    return Classified(detected, ref.video_id if ref else None, False)
