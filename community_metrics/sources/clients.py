"""Builds every source client from settings. Plain Python: no Dagster."""

from __future__ import annotations

from dataclasses import dataclass, field

from community_metrics.config import SourceSettings
from community_metrics.sources.clickhouse import CLICKHOUSE_LIMIT, ClickHouse, ClickPy, GHArchive
from community_metrics.sources.downloads import (
    CRATES_LIMIT,
    NPM_LIMIT,
    PYPISTATS_LIMIT,
    Crates,
    Npm,
    PyPIStats,
)
from community_metrics.sources.github import GITHUB_LIMIT, GitHub
from community_metrics.sources.github_search import (
    SEARCH_LIMIT_ANONYMOUS,
    SEARCH_LIMIT_TOKEN,
    GitHubSearch,
)
from community_metrics.sources.hackernews import HN_LIMIT, HackerNews
from community_metrics.sources.http import HttpSource


@dataclass(frozen=True)
class Canaries:
    """Per source, a package with downloads every day: its days are the source's coverage."""

    pypi: str | None = None
    npm: str | None = None
    crates: str | None = None


@dataclass
class SourceClients:
    pypistats: PyPIStats
    npm: Npm
    crates: Crates
    github: GitHub
    hackernews: HackerNews
    github_search: GitHubSearch
    clickpy: ClickPy | None = None  # None: turned off (an empty CM_CLICKPY_URL)
    gharchive: GHArchive | None = None
    canaries: Canaries = field(default_factory=Canaries)

    @property
    def https(self) -> list[HttpSource]:
        archives = [a.clickhouse.http for a in (self.clickpy, self.gharchive) if a is not None]
        return [
            self.pypistats.http,
            self.npm.http,
            self.crates.http,
            self.github.http,
            self.hackernews.http,
            self.github_search.http,
            *archives,
        ]

    def of_source(self, source: str) -> HttpSource:
        """The client of a catalog source (a metric's `source`)."""
        return {
            "pypistats": self.pypistats,
            "npm": self.npm,
            "cratesio": self.crates,
            "github": self.github,
        }[source].http

    def requests(self) -> dict[str, int]:
        return {http.name: http.requests for http in self.https}

    def close(self) -> None:
        for http in self.https:
            http.close()


def build_clients(settings: SourceSettings) -> SourceClients:
    def http(name, url, limit, headers=None, timeout=settings.timeout_seconds):
        return HttpSource(
            name,
            url,
            contact=settings.contact,
            rate_limit=limit,
            timeout=timeout,
            retry_budget=settings.retry_budget_seconds,
            headers=headers,
        )

    def archive(name: str, url: str | None, user: str, setting: str) -> ClickHouse | None:
        if not url:
            return None
        http_ = http(name, url, CLICKHOUSE_LIMIT, timeout=settings.archive_timeout_seconds)
        return ClickHouse(http_, user, setting)

    clickpy = archive("clickpy", settings.clickpy_url, settings.clickpy_user, "CM_CLICKPY_URL")
    gharchive = archive(
        "gharchive", settings.gharchive_url, settings.gharchive_user, "CM_GHARCHIVE_URL"
    )

    github_headers = {"X-GitHub-Api-Version": "2022-11-28"}
    if settings.github_token:
        github_headers["Authorization"] = f"Bearer {settings.github_token}"
    return SourceClients(
        pypistats=PyPIStats(http("pypistats", settings.pypistats_url, PYPISTATS_LIMIT)),
        npm=Npm(http("npm", settings.npm_url, NPM_LIMIT)),
        crates=Crates(http("crates.io", settings.crates_url, CRATES_LIMIT)),
        github=GitHub(
            http("github", settings.github_api_url, GITHUB_LIMIT, github_headers),
            authenticated=bool(settings.github_token),
        ),
        hackernews=HackerNews(http("hackernews", settings.hn_url, HN_LIMIT)),
        # The search API has its own, much lower, limit than the rest of the GitHub API.
        github_search=GitHubSearch(
            http(
                "github search",
                settings.github_api_url,
                SEARCH_LIMIT_TOKEN if settings.github_token else SEARCH_LIMIT_ANONYMOUS,
                github_headers,
            ),
            authenticated=bool(settings.github_token),
        ),
        clickpy=ClickPy(clickpy, settings.pypi_canary) if clickpy else None,
        gharchive=GHArchive(gharchive, settings.gharchive_table, settings.gharchive_canary)
        if gharchive
        else None,
        canaries=Canaries(settings.pypi_canary, settings.npm_canary, settings.crates_canary),
    )
