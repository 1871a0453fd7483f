"""Request headers for one attempt: X2C's own signature and the Standard Webhooks one.

Pure: the caller passes the attempt's timestamp. Nothing here logs; the secret goes
into HMAC keys only (and into X-Webhook-Secret when the legacy opt-in is on).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from daemon.webhook.payload import EVENT

WHSEC_PREFIX = "whsec_"


def x2c_signature(body: bytes, secret: str) -> str:
    """``sha256=<hex>`` over the exact body bytes, keyed by the secret's UTF-8 bytes."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def standard_key(secret: str) -> bytes:
    """The Standard Webhooks HMAC key for ``secret``.

    The standard's secrets look like ``whsec_<base64>`` and the key is the decoded
    base64; that case is decoded exactly as the reference library does (lenient, with
    padding added), so a receiver using any Standard Webhooks library with the same
    string verifies. Any other secret (X2C's are plain text) is used as its UTF-8 bytes:
    a receiver of those passes the raw bytes to its library.
    """
    if secret.startswith(WHSEC_PREFIX):
        try:
            key = base64.b64decode(secret[len(WHSEC_PREFIX) :] + "==")
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode("utf-8")


def standard_signature(body: bytes, delivery_id: str, timestamp: int, secret: str) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign_headers(
    body: bytes,
    delivery_id: str,
    timestamp: int,
    secret: str | None,
    legacy_secret_header: bool,
) -> dict[str, str]:
    """Every header of one attempt. Same id on every retry; timestamp of this attempt."""
    ts = str(timestamp)
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Event": EVENT,
        "X-Webhook-Timestamp": ts,
        "X-Webhook-Id": delivery_id,
        "webhook-id": delivery_id,
        "webhook-timestamp": ts,
    }
    if secret:
        headers["X-Webhook-Signature"] = x2c_signature(body, secret)
        headers["webhook-signature"] = standard_signature(body, delivery_id, timestamp, secret)
        if legacy_secret_header:
            # X2C's legacy receiver compares this header; only sent when explicitly enabled.
            headers["X-Webhook-Secret"] = secret
    return headers


def receiver_for(
    task_url: str | None,
    task_secret: str | None,
    default_url: str | None,
    default_secret: str | None,
) -> tuple[str, str, str | None] | None:
    """Where an attempt goes and what signs it, read together at each attempt (spec
    section 6): the task's own callback_url with its own secret, else the default URL
    with the default secret; None: no receiver at all. Returns (url, source, secret)."""
    if task_url:
        return task_url, "task", secret_for("task", task_secret, default_secret)
    if default_url:
        return default_url, "default", secret_for("default", task_secret, default_secret)
    return None


def secret_for(url_source: str, task_secret: str | None, default_secret: str | None) -> str | None:
    """The secret that signs a delivery: a URL and its secret go together (spec section 6).

    The task's own callback_url is signed with its own callback_secret only (None: sent
    unsigned, never with the default secret, which belongs to the default receiver and
    must not reach URLs from partner data); the default URL with the default secret only.
    """
    if url_source == "default":
        return default_secret or None
    return task_secret or None
