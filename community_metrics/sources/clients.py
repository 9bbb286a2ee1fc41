"""Builds every source client from settings. Plain Python: no Dagster."""

from __future__ import annotations

from dataclasses import dataclass

from community_metrics.config import SourceSettings
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


@dataclass
class SourceClients:
    pypistats: PyPIStats
    npm: Npm
    crates: Crates
    github: GitHub
    hackernews: HackerNews
    github_search: GitHubSearch

    @property
    def https(self) -> list[HttpSource]:
        return [
            self.pypistats.http,
            self.npm.http,
            self.crates.http,
            self.github.http,
            self.hackernews.http,
            self.github_search.http,
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
    def http(name, url, limit, headers=None):
        return HttpSource(
            name,
            url,
            contact=settings.contact,
            rate_limit=limit,
            timeout=settings.timeout_seconds,
            retry_budget=settings.retry_budget_seconds,
            headers=headers,
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
    )
