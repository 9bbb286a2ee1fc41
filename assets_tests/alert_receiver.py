"""A local receiver of alerts: generic webhooks and a fake of Slack's chat.postMessage, on
127.0.0.1, recording every request. A path can be set `down` (it answers 503)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class AlertReceiver:
    def __init__(self):
        self.posts: dict[str, list[dict]] = {}
        self.slack: list[dict] = []
        self.slack_auth: list[str] = []
        self.down: set[str] = set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0]
                with receiver.lock:
                    if path in receiver.down:
                        receiver.posts.setdefault(path, []).append({"refused": True})
                        self.send_response(503)
                        self.end_headers()
                        return
                    if path.endswith("/chat.postMessage"):
                        receiver.slack.append(json.loads(body))
                        receiver.slack_auth.append(self.headers.get("Authorization", ""))
                        answer = json.dumps({"ok": True, "channel": "C1", "ts": "1.0"}).encode()
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(answer)))
                        self.end_headers()
                        self.wfile.write(answer)
                        return
                    receiver.posts.setdefault(path, []).append(json.loads(body))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def alerts(self, name: str, kind: str | None = None) -> list[dict]:
        with self.lock:
            got = [p for p in self.posts.get(f"/{name}", []) if not p.get("refused")]
        return [p for p in got if kind is None or p["kind"] == kind]

    def refused(self, name: str) -> int:
        with self.lock:
            return sum(1 for p in self.posts.get(f"/{name}", []) if p.get("refused"))

    def wait_for(self, name: str, kind: str, count: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.alerts(name, kind)) >= count:
                return self.alerts(name, kind)
            time.sleep(0.2)
        return self.alerts(name, kind)

    def env(self, *webhooks: str) -> dict[str, str]:
        return {
            "CM_ALERT_WEBHOOK_URL": ",".join(self.url(w) for w in webhooks),
            "CM_SLACK_BOT_TOKEN": "xoxb-test-token-not-real",
            "CM_SLACK_CHANNEL": "#metrics",
            "CM_SLACK_API_URL": f"{self.base}/slack/api",
            "CM_DAGSTER_UI_URL": "http://dagster.example:3000",
        }

    def close(self):
        self.server.shutdown()
        self.server.server_close()
