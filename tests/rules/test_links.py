"""Platform detection and video ids: the table of spec sections 2 and 5, in Python and in
SQL (``dailystats_classify``), which must agree on every case and on generated links."""

from __future__ import annotations

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.rules.links import (
    Classified,
    VideoRef,
    classify_completion,
    detect_platform,
    is_short_link,
    parse_video_link,
    short_link_key,
)

YT = "dQw4w9WgXcQ"
TT = "7312345678901234567"
DY = "7300000000000000001"

# link -> the video it names (None: no video, junk or short link)
LINK_CASES: list[tuple[str | None, VideoRef | None]] = [
    (f"https://www.youtube.com/watch?v={YT}", VideoRef("yt", YT)),
    (f"https://youtube.com/watch?v={YT}&t=42s", VideoRef("yt", YT)),
    (f"http://m.youtube.com/watch?feature=share&v={YT}", VideoRef("yt", YT)),
    (f"https://music.youtube.com/watch?v={YT}&list=RD", VideoRef("yt", YT)),
    (f"HTTPS://WWW.YOUTUBE.COM/watch?v={YT}", VideoRef("yt", YT)),
    (f"www.youtube.com/watch?v={YT}", VideoRef("yt", YT)),
    (f"https://youtu.be/{YT}", VideoRef("yt", YT)),
    (f"https://youtu.be/{YT}?si=AbCdEf", VideoRef("yt", YT)),
    (f"youtu.be/{YT}", VideoRef("yt", YT)),
    (f"https://www.youtube.com/shorts/{YT}", VideoRef("yt", YT)),
    (f"https://youtube.com/shorts/{YT}?feature=share", VideoRef("yt", YT)),
    (f"https://www.youtube.com/live/{YT}", VideoRef("yt", YT)),
    (f"https://www.youtube.com/embed/{YT}", VideoRef("yt", YT)),
    (f"https://www.youtube.com:443/watch?v={YT}#t=1", VideoRef("yt", YT)),
    (f"  https://youtu.be/{YT}\n", VideoRef("yt", YT)),
    ("https://www.youtube.com/watch?v=short", None),
    (f"https://www.youtube.com/watch?v={YT}X", None),
    ("https://www.youtube.com/watch?v=dQw4w9WgXc!", None),
    ("https://www.youtube.com/channel/UCabcdefghijk", None),
    (f"https://gaming.youtube.com/watch?v={YT}", None),
    (f"https://www.youtube.com/results?search_query=x&v={YT}", None),
    (f"https://www.tiktok.com/@some.user/video/{TT}", VideoRef("tt", TT)),
    (f"https://www.tiktok.com/@some.user/video/{TT}?is_from_webapp=1&lang=en", VideoRef("tt", TT)),
    (f"https://tiktok.com/@u/photo/{TT}", VideoRef("tt", TT)),
    (f"https://m.tiktok.com/v/{TT}.html", VideoRef("tt", TT)),
    (f"https://m.tiktok.com/v/{TT}.html?u_code=x", VideoRef("tt", TT)),
    ("https://www.tiktok.com/@some.user", None),
    ("https://www.tiktok.com/@u/video/12ab", None),
    ("https://www.tiktok.com/@u/video/", None),
    (f"https://www.douyin.com/video/{DY}", VideoRef("dy", DY)),
    (f"https://douyin.com/note/{DY}", VideoRef("dy", DY)),
    (f"https://www.iesdouyin.com/share/video/{DY}/?region=CN&mid=1", VideoRef("dy", DY)),
    (f"https://www.douyin.com/discover?modal_id={DY}", VideoRef("dy", DY)),
    (f"https://www.douyin.com/user/MS4w?from=x&modal_id={DY}", VideoRef("dy", DY)),
    ("https://www.douyin.com/user/MS4wLjABAAAA", None),
    ("https://vm.tiktok.com/ZMabcdef/", None),
    ("https://vt.tiktok.com/ZSabcdef/", None),
    ("https://www.tiktok.com/t/ZTabcdef/", None),
    ("https://v.douyin.com/iRNBho6u/", None),
    ("https://www.instagram.com/reel/Cabc/", None),
    (f"https://notyoutube.com/watch?v={YT}", None),
    (f"https://youtube.com.evil.example/watch?v={YT}", None),
    ("not a link", None),
    ("", None),
    (None, None),
    ("https://", None),
    ("://", None),
    ("http://user@www.tiktok.com/@u/video/123", VideoRef("tt", "123")),
]

SHORT_CASES = [
    ("https://vm.tiktok.com/ZMabcdef/", True),
    ("https://vt.tiktok.com/ZSabcdef/", True),
    ("https://www.tiktok.com/t/ZTabcdef/", True),
    ("https://tiktok.com/t/ZTabcdef", True),
    ("https://v.douyin.com/iRNBho6u/", True),
    (f"https://www.tiktok.com/@u/video/{TT}", False),
    ("https://www.douyin.com/video/1", False),
    (None, False),
    ("junk", False),
]

# (platform column, link) -> platform
PLATFORM_CASES: list[tuple[str | None, str | None, str]] = [
    ("YouTube", None, "yt"),
    ("youtube", "https://www.tiktok.com/@u/video/1", "yt"),
    (" YT ", None, "yt"),
    ("yt", None, "yt"),
    ("TikTok", None, "tt"),
    ("TT", None, "tt"),
    ("douyin", None, "dy"),
    ("Douyin", None, "dy"),
    ("抖音", None, "dy"),
    ("DY", None, "dy"),
    ("Other", f"https://youtu.be/{YT}", "yt"),
    ("Instagram", "https://www.instagram.com/p/x", "other"),
    (None, "https://vm.tiktok.com/ZM/", "tt"),
    (None, "https://v.douyin.com/x/", "dy"),
    (None, f"https://www.iesdouyin.com/share/video/{DY}", "dy"),
    (None, "https://sub.sub.youtube.com/x", "yt"),
    (None, "junk", "other"),
    (None, None, "other"),
    ("", "", "other"),
]


@pytest.mark.parametrize(("link", "expected"), LINK_CASES)
def test_parse_video_link(link: str | None, expected: VideoRef | None) -> None:
    assert parse_video_link(link) == expected


@pytest.mark.parametrize(("link", "expected"), SHORT_CASES)
def test_is_short_link(link: str | None, expected: bool) -> None:
    assert is_short_link(link) is expected


@pytest.mark.parametrize(("platform", "link", "expected"), PLATFORM_CASES)
def test_detect_platform(platform: str | None, link: str | None, expected: str) -> None:
    assert detect_platform(platform, link) == expected


def test_a_link_of_another_platform_names_no_video_for_the_completion() -> None:
    link = f"https://www.tiktok.com/@u/video/{TT}"
    assert classify_completion("YouTube", link) == Classified("yt", None, False)
    assert classify_completion(None, link) == Classified("tt", TT, False)
    assert classify_completion("tt", "https://vm.tiktok.com/ZM/") == Classified("tt", None, True)


CLASSIFY_SQL = "SELECT platform, video_id, is_short FROM dailystats_classify($1, $2)"


async def _sql_classify(
    conn: asyncpg.Connection, platform: str | None, link: str | None
) -> Classified:
    row = await conn.fetchrow(CLASSIFY_SQL, platform, link)
    assert row is not None
    return Classified(row["platform"], row["video_id"], row["is_short"])


async def test_sql_and_python_agree_on_every_case(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        cases = [(p, link) for p, link, _ in PLATFORM_CASES]
        cases += [(p, link) for link, _ in LINK_CASES for p in (None, "YouTube", "tt", "抖音", "x")]
        cases += [(None, link) for link, _ in SHORT_CASES]
        for platform, link in cases:
            assert await _sql_classify(conn, platform, link) == classify_completion(
                platform, link
            ), (platform, link)
    finally:
        await conn.close()


_pieces = st.sampled_from(
    [
        "https://",
        "http://",
        "HTTP://",
        "",
        "www.",
        "m.",
        "music.",
        "vm.",
        "v.",
        "youtube.com",
        "youtu.be",
        "tiktok.com",
        "douyin.com",
        "iesdouyin.com",
        "evil.com",
        "/watch",
        "?v=",
        "&v=",
        "/shorts/",
        "/live/",
        "/embed/",
        "/video/",
        "/photo/",
        "/note/",
        "/share",
        "/t/",
        "/v/",
        ".html",
        "modal_id=",
        "/@user",
        YT,
        TT,
        DY,
        "123",
        "#",
        "?",
        "&",
        ":8080",
        "@",
        " ",
        "\t",
        "抖音",
        "é",
        "_",
        "-",
    ]
)
_links = st.lists(_pieces, max_size=8).map("".join) | st.text(max_size=30)
_platforms = (
    st.none()
    | st.sampled_from(
        ["YouTube", "yt", "TT", "tiktok", "douyin", "抖音", "dy", "Other", " YouTube\t", ""]
    )
    | st.text(max_size=5)
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(platform=_platforms, link=st.none() | _links)
async def test_sql_and_python_agree_on_generated_links(
    db_url: str, platform: str | None, link: str | None
) -> None:
    if (link and "\x00" in link) or (platform and "\x00" in platform):
        return  # PostgreSQL text cannot hold NUL; the bot could never have stored it
    conn = await asyncpg.connect(db_url)
    try:
        assert await _sql_classify(conn, platform, link) == classify_completion(platform, link)
    finally:
        await conn.close()


# A short link -> the form it is compared in while unresolved (and remembered by).
SHORT_KEY_CASES: list[tuple[str, str]] = [
    ("https://v.douyin.com/iRNBho6u/", "https://v.douyin.com/iRNBho6u"),
    ("  HTTPS://V.DOUYIN.COM/iRNBho6u  ", "https://v.douyin.com/iRNBho6u"),
    ("http://v.douyin.com/iRNBho6u", "https://v.douyin.com/iRNBho6u"),
    ("v.douyin.com/iRNBho6u//", "https://v.douyin.com/iRNBho6u"),
    ("https://Vm.TikTok.com/ZMabc/?x=1", "https://vm.tiktok.com/ZMabc/?x=1"),
    ("https://www.tiktok.com/t/ZTabc/", "https://www.tiktok.com/t/ZTabc"),
    ("\thttps://vt.tiktok.com:443/ZS1/\n", "https://vt.tiktok.com:443/ZS1"),
]


@pytest.mark.parametrize(("link", "expected"), SHORT_KEY_CASES)
def test_short_link_key(link: str, expected: str) -> None:
    assert short_link_key(link) == expected


def test_a_path_keeps_its_case() -> None:
    # Shorteners' codes are case-sensitive: only the host is lower-cased.
    assert short_link_key("https://v.douyin.com/AbC") != short_link_key("https://v.douyin.com/abc")


SHORT_KEY_SQL = "SELECT dailystats_short_link($1)"


async def test_sql_and_python_agree_on_short_link_keys(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        links = [link for link, _ in SHORT_KEY_CASES]
        links += [link for link, _ in LINK_CASES if link is not None]
        for link in links:
            assert await conn.fetchval(SHORT_KEY_SQL, link) == short_link_key(link), link
    finally:
        await conn.close()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(link=_links | st.text(alphabet="HTPShtps:/vVmMtTiIkKoOcC.?#&@ \t", max_size=30))
async def test_sql_and_python_agree_on_generated_short_link_keys(db_url: str, link: str) -> None:
    if "\x00" in link:
        return  # PostgreSQL text cannot hold NUL
    conn = await asyncpg.connect(db_url)
    try:
        assert await conn.fetchval(SHORT_KEY_SQL, link) == short_link_key(link)
    finally:
        await conn.close()
