"""A receiver of dailystats webhooks (aiohttp): both signatures, no replays, no duplicates."""

import base64
import hashlib
import hmac
import json
import time

from aiohttp import web

TOLERANCE = 300  # seconds a webhook-timestamp may be off; older is a replay
RECEIVED = web.AppKey("received", list)  # the payloads taken in, for your handler


def make_app(secret: str) -> web.Application:
    key = secret.encode("utf-8")  # a plain (non-whsec_) secret: its UTF-8 bytes are the key
    seen: dict[str, int] = {}  # webhook-id -> timestamp (keep it in your database)
    app = web.Application()
    app[RECEIVED] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()  # the raw bytes: never re-serialise before verifying
        msg_id = request.headers.get("webhook-id", "")
        ts = request.headers.get("webhook-timestamp", "")
        x2c = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(x2c, request.headers.get("X-Webhook-Signature", "")):
            return web.json_response({"error": "bad X-Webhook-Signature"}, status=401)
        signed = f"{msg_id}.{ts}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        given = request.headers.get("webhook-signature", "").split()
        if not any(hmac.compare_digest(f"v1,{expected}", g) for g in given):
            return web.json_response({"error": "bad webhook-signature"}, status=401)
        now = int(time.time())
        if not ts.isdigit() or abs(now - int(ts)) > TOLERANCE:
            return web.json_response({"error": "stale webhook-timestamp"}, status=400)
        for old in [i for i, t in seen.items() if now - t > TOLERANCE]:
            del seen[old]  # older ids can only come back with a stale timestamp
        if msg_id in seen:  # a retry of what we already have: say yes, change nothing
            return web.json_response({"ok": True, "duplicate": True})
        seen[msg_id] = int(ts)
        app[RECEIVED].append(json.loads(body))
        return web.json_response({"ok": True})

    app.router.add_post("/dailystats", hook)
    return app


if __name__ == "__main__":
    import os

    web.run_app(make_app(os.environ["WEBHOOK_SECRET"]), port=int(os.environ.get("PORT", "9000")))
