"""The one redaction mechanism: configured secrets and secret-shaped text, masked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from daemon.rules import redact
from daemon.rules.redact import MASK, describe, redact_text, redact_value
from daemon.settings import load_settings


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    redact.forget_all()
    yield
    redact.forget_all()


def test_registered_secrets_are_masked_wherever_they_appear() -> None:
    redact.register("AIzaSyKnownKey123", None, "")
    assert redact_text("got AIzaSyKnownKey123 back, AIzaSyKnownKey123!") == (
        f"got {MASK} back, {MASK}!"
    )


def test_a_secret_containing_another_is_masked_whole() -> None:
    redact.register("abcd", "abcdefgh")
    assert redact_text("x abcdefgh y") == f"x {MASK} y"


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("connect postgresql://bot:s3cr3t-pw@db.internal:5432/bot failed", "s3cr3t-pw"),
        ("postgres://u:p%40ss@h/d", "p%40ss"),
        ("host=db user=bot password=hunter22 dbname=bot", "hunter22"),
        ("GET https://www.googleapis.com/youtube/v3/videos?part=x&key=AIzaXYZ&id=1", "AIzaXYZ"),
        ("{'Authorization': 'Bearer th-live-token-9'}", "th-live-token-9"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("X-Webhook-Secret: legacy-secret-1", "legacy-secret-1"),
        ('{"callback_secret": "cb-secret-77"}', "cb-secret-77"),
        ("api_key=th_abc123 and token=t0k3n", "th_abc123"),
        ("DETAIL: Key (task_id, callback_secret)=(7, s3cret-x) already exists.", "s3cret-x"),
    ],
)
def test_secret_shaped_text_is_masked_without_being_told(text: str, gone: str) -> None:
    out = redact_text(text)
    assert gone not in out
    assert MASK in out


def test_ordinary_text_is_left_alone() -> None:
    text = "scan.finished stats_date=2024-12-09 cache_key=abc tasks=3 https://x2c.example/hook"
    assert redact_text(text) == text


def test_structures_are_masked_inside_and_other_objects_become_text() -> None:
    redact.register("dbLEAK-pw")
    value = {
        "runs": [{"error": "InvalidPasswordError: dbLEAK-pw", "id": 1}],
        "ok": True,
        "n": 2.5,
        "exc": ValueError("postgresql://a:dbLEAK-pw@h/d"),
    }
    out = redact_value(value)
    assert "dbLEAK-pw" not in repr(out)
    assert out["runs"][0]["id"] == 1 and out["ok"] is True and out["n"] == 2.5


def test_describe_is_one_redacted_line() -> None:
    redact.register("sk-very-secret")
    exc = OSError("cannot connect\n  using sk-very-secret")
    assert describe(exc) == f"OSError: cannot connect using {MASK}"


def test_settings_hide_the_database_password_and_register_every_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("YOUTUBE_API_KEY", "TIKHUB_API_KEY", "WEBHOOK_DEFAULT_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(
        database_url="postgresql://bot:pw%2Fwith-slash@127.0.0.1/bot",
        youtube_api_key="yt-key-0001",
        tikhub_api_key="th-key-0002",
        webhook_default_secret="wh-secret-0003",
        _env_file=None,
    )
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for secret in ("pw%2Fwith-slash", "pw/with-slash", "yt-key-0001", "th-key-0002"):
        assert secret not in shown
    redact.register_settings(settings)
    for secret in ("pw%2Fwith-slash", "pw/with-slash", "yt-key-0001", "wh-secret-0003"):
        assert secret not in redact_text(f"[{secret}]")


def test_log_fields_named_like_secrets_are_masked_whatever_their_value() -> None:
    event = {"event": "x", "api_key": "short", "callback_secret": "cb", "task_id": 7, "key": None}
    out = redact.redact_event(None, "info", event)
    assert out == {
        "event": "x",
        "api_key": MASK,
        "callback_secret": MASK,
        "task_id": 7,
        "key": None,
    }
