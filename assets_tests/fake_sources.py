"""A local HTTP server on 127.0.0.1 answering like pypistats, npm, crates.io and GitHub.

It serves deterministic daily values (so tests can compute expected sums on their own), keeps
each API's retention window, and plays scripted failures: 429 with Retry-After, 5xx, malformed
JSON, slow answers (timeouts) and GitHub's 403 on the stargazer listing.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
import time
import zlib
from collections import Counter, defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

PYPISTATS_DAYS = 180
CRATES_DAYS = 90
NPM_MAX_DAYS = 540
STAR_START = dt.date(2022, 7, 1)
# Each source's documented rate limit, by path prefix: (calls, window in seconds) pairs
# (../shared/docs/sources.md). Enforced only when a test or bench asks (`enforce_limits`).
DOCUMENTED_LIMITS = {
    "/api/packages/": ((5, 1.0), (30, 60.0)),  # pypistats: 5/s and 30/min per IP
    "/downloads/": ((1, 1.0),),  # npm: Cloudflare 429s reported at 1/s
    "/api/v1/crates/": ((1, 1.0),),  # crates.io crawler policy: 1/s
    "/repos/": ((5000, 3600.0),),  # GitHub REST with a token: 5,000/hour
}


def value(source: str, name: str, day: dt.date) -> int:
    """The downloads a fake source reports for a package and day."""
    return 500 + zlib.crc32(f"{source}|{name}|{day}".encode()) % 1000


def mirror_extra(name: str, day: dt.date) -> int:
    return 50 + zlib.crc32(f"mirror|{name}|{day}".encode()) % 100


def star_gain(repo: str, day: dt.date) -> int:
    return zlib.crc32(f"stars|{repo}|{day}".encode()) % 7


def send_json(handler: BaseHTTPRequestHandler, code: int, body, headers=None) -> None:
    """Answer a request with a JSON body (or raw bytes, for malformed answers)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(raw)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(raw)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # a client that timed out and left (what the timeout tests do) is not an error here
        if not isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            super().handle_error(request, client_address)


class FakeSources:
    def __init__(self, today: dt.date | None = None, history_repos=("lancedb/lancedb",)):
        self.today = today or dt.datetime.now(dt.UTC).date()
        self.history_repos = set(history_repos)
        self.requests: Counter[str] = Counter()
        self.user_agents: set[str] = set()
        self.authorizations: set[str] = set()
        self.pypistats_outages: set[dt.date] = set()  # days reported as 0 for every package
        self.npm_outages: set[dt.date] = set()  # npm reports its outages as 0 for everyone
        # (source, package) -> days it had no downloads: pypistats and crates.io leave them
        # out (pypistats keeps a with_mirrors row when mirrors downloaded it), npm says 0
        self.zero_days: dict[tuple[str, str], set[dt.date]] = {}
        self.star_counts: dict[str, int] = {}  # stargazers_count, where not the generated one
        self.hn_items: list[dict] = []  # Algolia hits, searchable by title and text
        self.gh_issues: list[dict] = []  # REST search items, searchable by title and body
        self.gh_discussions: list[dict] = []  # GraphQL Discussion nodes
        self.refused: Counter[str] = Counter()  # requests answered 429 for going over a limit
        self._limits: dict[str, tuple] = {}
        self._arrivals: dict[str, deque] = defaultdict(deque)
        self._scripts: dict[str, deque] = defaultdict(deque)
        self._always: dict[str, tuple] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- control ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def env(self) -> dict[str, str]:
        return {
            "CM_PYPISTATS_URL": self.url,
            "CM_NPM_URL": self.url,
            "CM_CRATES_URL": self.url,
            "CM_GITHUB_API_URL": self.url,
            "CM_HN_URL": self.url,
            # the archives are off unless a test serves them (fake_clickhouse.py)
            "CM_CLICKPY_URL": "",
            "CM_GHARCHIVE_URL": "",
        }

    def __enter__(self) -> FakeSources:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, prefix: str, *actions: tuple) -> None:
        """Answer the next requests under `prefix` with these actions, then normally.

        Actions: ("status", code, headers), ("malformed",), ("sleep", seconds),
        ("incomplete",) (GitHub search's incomplete_results).
        """
        self._scripts[prefix].extend(actions)

    def enforce_limits(self, limits=DOCUMENTED_LIMITS, time_scale: float = 1.0) -> None:
        """Answer 429 (with Retry-After) to a request over a source's limit, as the real APIs
        do; `time_scale` > 1 shortens every window that many times (a bench in minutes)."""
        self._limits = {
            prefix: tuple((calls, window / time_scale) for calls, window in pairs)
            for prefix, pairs in limits.items()
        }

    def _over_limit(self, path: str) -> float | None:
        """Seconds until the request would fit, or None (then it is counted as admitted)."""
        prefix = next((p for p in self._limits if path.startswith(p)), None)
        if prefix is None:
            return None
        now = time.monotonic()
        with self._lock:
            arrivals = self._arrivals[prefix]
            longest = max(window for _, window in self._limits[prefix])
            while arrivals and arrivals[0] <= now - longest:
                arrivals.popleft()
            for calls, window in self._limits[prefix]:
                inside = [t for t in arrivals if t > now - window]
                if len(inside) >= calls:
                    self.refused[prefix] += 1
                    return inside[-calls] + window - now
            arrivals.append(now)
        return None

    def always(self, prefix: str, action: tuple) -> None:
        self._always[prefix] = action

    def recover(self, prefix: str) -> None:
        """Answer requests under `prefix` normally again."""
        with self._lock:
            self._always.pop(prefix, None)

    def count(self, prefix: str) -> int:
        return sum(n for path, n in self.requests.items() if path.startswith(prefix))

    # -- data ---------------------------------------------------------------------------------

    def served_days(self, source: str) -> list[dt.date]:
        keep = {"pypistats": PYPISTATS_DAYS, "cratesio": CRATES_DAYS}[source]
        return [self.today - dt.timedelta(days=i) for i in range(keep, 0, -1)]

    def stars_at_end_of(self, repo: str, day: dt.date) -> int:
        days = (min(day, self.today) - STAR_START).days + 1
        return sum(star_gain(repo, STAR_START + dt.timedelta(days=i)) for i in range(days))

    # -- serving ------------------------------------------------------------------------------

    def _action_for(self, path: str):
        with self._lock:
            for prefix, queue in self._scripts.items():
                if path.startswith(prefix) and queue:
                    return queue.popleft()
            for prefix, action in self._always.items():
                if path.startswith(prefix):
                    return action
        return None

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, code: int, body, headers=None):
                send_json(self, code, body, headers)

            def do_GET(self):
                parts = urlsplit(self.path)
                raw_path, query = parts.path, parse_qs(parts.query)
                with fake._lock:
                    fake.requests[unquote(raw_path)] += 1
                    fake.user_agents.add(self.headers.get("User-Agent", ""))
                    if self.headers.get("Authorization"):
                        fake.authorizations.add(self.headers["Authorization"])
                if (wait := fake._over_limit(unquote(raw_path))) is not None:
                    return self.send(
                        429, {"message": "rate limited"}, {"Retry-After": f"{wait:.3f}"}
                    )
                action = fake._action_for(unquote(raw_path))
                if action:
                    kind = action[0]
                    if kind == "status":
                        return self.send(
                            action[1],
                            {"message": "scripted"},
                            action[2] if len(action) > 2 else None,
                        )
                    if kind == "malformed":
                        return self.send(200, b'{"data": [{"date": "2026-')
                    if kind == "sleep":
                        time.sleep(action[1])
                    if kind == "incomplete":  # GitHub search timed out: a partial page
                        code, body, headers = fake._route(raw_path, query)
                        return self.send(code, {**body, "incomplete_results": True}, headers)
                try:
                    code, body, headers = fake._route(raw_path, query)
                except ValueError as exc:
                    code, body, headers = 400, {"message": str(exc)}, None
                self.send(code, body, headers)

            def do_POST(self):
                path = urlsplit(self.path).path
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.requests[path] += 1
                action = fake._action_for(path)
                if action and action[0] == "status":
                    return self.send(action[1], {"message": "scripted"}, action[2])
                if path != "/graphql":
                    return self.send(404, {"message": "Not Found"})
                if not self.headers.get("Authorization"):
                    return self.send(401, {"message": "Requires authentication"})
                self.send(200, fake._graphql(request["variables"]))

        return Handler

    def _route(self, raw_path: str, query: dict):
        path = unquote(raw_path)
        segments = path.strip("/").split("/")
        if path.startswith("/api/packages/") and path.endswith("/overall"):
            return self._pypistats(segments[2])
        if path.startswith("/downloads/range/"):
            # the scoped name's '/' must arrive percent-encoded, as npm requires
            name = unquote(raw_path.split("/", 4)[4])
            if "/" in raw_path.split("/", 4)[4]:
                return 404, {"error": "not found"}, None
            return self._npm(segments[2], name)
        if path.startswith("/api/v1/crates/") and path.endswith("/downloads"):
            return self._crates(segments[3])
        if path == "/api/v1/search_by_date":
            return self._hn(query)
        if path == "/search/issues":
            return self._gh_issues(query)
        if path.startswith("/repos/"):
            repo = "/".join(segments[1:3])
            rate = {
                "x-ratelimit-remaining": "4999",
                "x-ratelimit-reset": str(int(time.time()) + 3600),
            }
            if len(segments) == 3:
                return (
                    200,
                    {
                        "full_name": repo,
                        "stargazers_count": self.star_counts.get(repo)
                        or self.stars_at_end_of(repo, self.today),
                    },
                    rate,
                )
            if segments[3:] == ["stargazers", "history"]:
                if repo not in self.history_repos:
                    return 403, {"message": "Resource not accessible by integration"}, rate
                return (
                    200,
                    self._history(
                        repo,
                        int(query.get("page", ["1"])[0]),
                        int(query.get("per_page", ["30"])[0]),
                    ),
                    rate,
                )
            if segments[3:] == ["stargazers"]:
                return 403, {"message": "Must have admin rights to Repository."}, rate
        return 404, {"message": "Not Found"}, None

    def _hn(self, query: dict):
        term = query.get("query", [""])[0].lower()
        tags = set(query.get("tags", ["(story,comment)"])[0].strip("()").split(","))
        lo, hi = 0, 2**63
        for part in query.get("numericFilters", [""])[0].split(","):
            if part.startswith("created_at_i>="):
                lo = int(part.split(">=")[1])
            elif part.startswith("created_at_i<"):
                hi = int(part.split("<")[1])
        matches = sorted(
            (
                item
                for item in self.hn_items
                if lo <= item["created_at_i"] < hi
                and tags & set(item["_tags"])
                and term in f"{item.get('title') or ''} {item.get('comment_text') or ''}".lower()
            ),
            key=lambda item: -item["created_at_i"],
        )
        per_page = min(int(query.get("hitsPerPage", ["20"])[0]), 1000)
        page = int(query.get("page", ["0"])[0])
        reachable = matches[:1000]  # Algolia serves at most 1,000 hits per query
        pages = -(-len(reachable) // per_page)
        hits = reachable[page * per_page : (page + 1) * per_page]
        return 200, {"hits": hits, "nbHits": len(matches), "nbPages": pages, "page": page}, None

    @staticmethod
    def _gh_query(q: str):
        """The quoted term and the created:A..B bounds (inclusive) of a GitHub search query."""
        term = q.split('"')[1].lower()
        span = next(part for part in q.split() if part.startswith("created:"))
        lo, hi = (dt.datetime.fromisoformat(s.replace("Z", "+00:00")) for s in span[8:].split(".."))
        return term, lo, hi

    @staticmethod
    def _created(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

    def _gh_issues(self, query: dict):
        term, lo, hi = self._gh_query(query["q"][0])
        per_page, page = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
        if per_page * page > 1000:
            return 422, {"message": "Only the first 1000 search results are available"}, None
        matches = [
            item
            for item in self.gh_issues
            if lo <= self._created(item["created_at"]) <= hi
            and term in f"{item['title']} {item.get('body') or ''}".lower()
        ]
        items = matches[(page - 1) * per_page : page * per_page]
        return 200, {"total_count": len(matches), "incomplete_results": False, "items": items}, None

    def _graphql(self, variables: dict) -> dict:
        term, lo, hi = self._gh_query(variables["q"])
        matches = [
            node
            for node in self.gh_discussions
            if lo <= self._created(node["createdAt"]) <= hi
            and term in f"{node['title']} {node.get('body') or ''}".lower()
        ]
        offset = int(variables.get("after") or 0)
        reachable = matches[:1000]
        nodes = reachable[offset : offset + variables["first"]]
        end = offset + len(nodes)
        return {
            "data": {
                "search": {
                    "discussionCount": len(matches),
                    "pageInfo": {"hasNextPage": end < len(reachable), "endCursor": str(end)},
                    "nodes": nodes,
                }
            }
        }

    def _pypistats(self, package: str):
        rows = []
        zero = self.zero_days.get(("pypistats", package), set())
        for day in self.served_days("pypistats"):
            without = 0 if day in self.pypistats_outages else value("pypistats", package, day)
            if day in zero:
                rows.append(
                    {
                        "category": "with_mirrors",
                        "date": day.isoformat(),
                        "downloads": mirror_extra(package, day),
                    }
                )
                continue
            rows.append(
                {
                    "category": "with_mirrors",
                    "date": day.isoformat(),
                    "downloads": without
                    + (0 if day in self.pypistats_outages else mirror_extra(package, day)),
                }
            )
            rows.append(
                {"category": "without_mirrors", "date": day.isoformat(), "downloads": without}
            )
        return 200, {"data": rows, "package": package, "type": "overall_downloads"}, None

    def _npm(self, span: str, package: str):
        start, end = (dt.date.fromisoformat(s) for s in span.split(":"))
        end = min(end, self.today - dt.timedelta(days=1))
        start = max(start, end - dt.timedelta(days=NPM_MAX_DAYS - 1))  # silently truncated
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        return (
            200,
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "package": package,
                "downloads": [
                    {
                        "downloads": 0
                        if d in self.npm_outages or d in self.zero_days.get(("npm", package), ())
                        else value("npm", package, d),
                        "day": d.isoformat(),
                    }
                    for d in days
                ],
            },
            None,
        )

    def _crates(self, crate: str):
        versions, extra = [], []
        for day in self.served_days("cratesio"):
            if day in self.zero_days.get(("cratesio", crate), ()):
                continue
            total = value("cratesio", crate, day)
            share = total // 6
            for i, version in enumerate(["0.5.0", "0.4.2", "0.4.1", "0.4.0", "0.3.9"]):
                versions.append(
                    {
                        "version": 100 + i,
                        "num": version,
                        "downloads": share,
                        "date": day.isoformat(),
                    }
                )
            extra.append({"date": day.isoformat(), "downloads": total - 5 * share})
        return 200, {"version_downloads": versions, "meta": {"extra_downloads": extra}}, None

    def _history(self, repo: str, page: int, per_page: int):
        # GitHub-style weeks start on Sunday; newest first; the current week is partial.
        newest = self.today - dt.timedelta(days=(self.today.weekday() + 1) % 7)
        weeks = []
        start = newest
        while start + dt.timedelta(days=6) >= STAR_START:
            days = [
                star_gain(repo, d) if STAR_START <= d <= self.today else 0
                for d in (start + dt.timedelta(days=i) for i in range(7))
            ]
            weeks.append(
                {
                    "week": int(dt.datetime.combine(start, dt.time(), dt.UTC).timestamp()),
                    "total": sum(days),
                    "days": days,
                }
            )
            start -= dt.timedelta(days=7)
        return weeks[(page - 1) * per_page : page * per_page]
