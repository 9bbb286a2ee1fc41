"""Mentions as rows of the `mentions` table. Plain Python: no Dagster, no LanceDB.

Text is stored clean (HTML tags, entities and template comments removed) because it is what
people read in search hits and what gets embedded; `content_hash` covers exactly the embedded
text, so points or comment counts moving never cause a re-embed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from html.parser import HTMLParser

from community_metrics.catalog import Catalog
from community_metrics.sources.mention import FoundMention
from community_metrics.weeks import monday_of

_BLOCK_TAGS = {"p", "br", "div", "pre", "li", "blockquote", "tr", "h1", "h2", "h3", "h4"}
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# Tags people put in GitHub Markdown; anything else in angle brackets (Vec<T>) is text.
_MARKDOWN_TAGS = re.compile(
    r"</?(?:details|summary|br|p|div|img|a|sub|sup|kbd|b|i|em|strong|code|pre|span|table|"
    r"thead|tbody|tr|td|th|ul|ol|li|h[1-6])\b[^>]*>",
    re.IGNORECASE,
)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


class _TextExtractor(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def _tidy(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def clean_html(text: str | None) -> str:
    """Readable text from Hacker News' HTML: paragraphs kept, tags and entities gone."""
    if not text:
        return ""
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    return _tidy(html.unescape("".join(parser.parts)))


def clean_markdown(text: str | None) -> str:
    """GitHub bodies are Markdown: keep it, drop issue-template comments and HTML tags."""
    if not text:
        return ""
    return _tidy(html.unescape(_MARKDOWN_TAGS.sub(" ", _HTML_COMMENT.sub("", text))))


def clean(text: str | None, body_format: str) -> str:
    if body_format == "html":
        return clean_html(text)
    if body_format == "markdown":
        return clean_markdown(text)
    return _tidy(text or "")


def document(title: str | None, text: str) -> str:
    """What is embedded and full-text indexed: the title, then the text."""
    return "\n\n".join(part for part in (title or "", text) if part)


def content_hash(title: str | None, text: str) -> str:
    return hashlib.sha256(document(title, text).encode()).hexdigest()


def mention_row(
    found: FoundMention, catalog: Catalog, fetched_at: dt.datetime, run_id: str
) -> dict:
    """One `mentions` row, related to the products whose terms found it and their metrics."""
    text = clean(found.body, found.body_format)
    title = clean_html(found.title) or None
    products = catalog.products_for_terms(found.matched_terms)
    return {
        "source": found.source,
        "source_id": found.source_id,
        "kind": found.kind,
        "title": title,
        "text": text,
        "url": found.url,
        "author": found.author,
        "occurred_at": found.created_at,
        "products": products,
        "content_hash": content_hash(title, text),
        "points": found.points,
        "comment_count": found.comment_count,
        "week": monday_of(found.created_at.date()),
        "matched_terms": sorted(found.matched_terms),
        "metric_ids": catalog.metric_ids_for_products(products),
        "fetched_at": fetched_at,
        "run_id": run_id,
    }
