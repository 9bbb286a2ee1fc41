"""A local OpenAI-compatible embeddings server (/v1/embeddings) that rejects what OpenAI
rejects: more than 2,048 inputs, inputs over the context length; optionally throttles once."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .fake_sources import send_json


class OpenAIStub:
    """Answers /v1/embeddings like OpenAI, rejecting what OpenAI rejects."""

    MAX_INPUTS = 2048

    def __init__(self, max_chars: int, throttle_first: bool = False):
        self.calls: list[int] = []
        self.longest = 0
        self.throttle = throttle_first
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, code, body, headers=None):
                send_json(self, code, body, headers)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                inputs = body["input"]
                stub.calls.append(len(inputs))
                if stub.throttle:
                    stub.throttle = False
                    return self.reply(
                        429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}
                    )
                if len(inputs) > stub.MAX_INPUTS:
                    return self.reply(400, {"error": {"message": "too many inputs"}})
                stub.longest = max(stub.longest, *(len(t) for t in inputs))
                if stub.longest > max_chars:
                    return self.reply(400, {"error": {"message": "maximum context length"}})
                data = [
                    {"object": "embedding", "index": i, "embedding": stub.vector(t)}
                    for i, t in enumerate(inputs)
                ][::-1]  # out of order on purpose: results are matched by index
                tokens = sum(len(t) // 4 + 1 for t in inputs)
                self.reply(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": body["model"],
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    },
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @staticmethod
    def vector(text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        return [b / 255 + 0.01 for b in digest[:8]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
