"""The metric catalog: the single definition of what is tracked.

Users edit `catalog.toml` in the seed folder; everything else (the `metrics` table, seed parsing,
weekly metrics) reads it through `load_catalog`, so there is no second list to keep in sync.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

CATALOG_FILE = "catalog.toml"
FAMILIES = {"downloads": ("pypistats", "npm", "cratesio"), "stars": ("github",)}
SOURCES = ("pypistats", "npm", "cratesio", "github")
_ID_PART = r"[a-z0-9][a-z0-9_.-]*"
METRIC_ID_RE = re.compile(rf"^{_ID_PART}:{_ID_PART}:{_ID_PART}$")
REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
REQUIRED = ("metric_id", "family", "product", "subject", "sdk", "source", "unit", "display_name")
OPTIONAL = {"active": True, "seed_column": None, "mirrors": False}


class CatalogError(ValueError):
    """The catalog file is invalid; the message names the entry and the field at fault."""


@dataclass(frozen=True)
class Metric:
    metric_id: str
    family: str
    product: str
    subject: str
    sdk: str
    source: str
    unit: str
    display_name: str
    active: bool = True
    seed_column: str | None = None
    mirrors: bool = False

    def as_row(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Product:
    """A product's community-mention search terms (`[products.NAME]` in the catalog)."""

    name: str
    search_terms: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    path: Path
    metrics: tuple[Metric, ...]
    products: tuple[Product, ...] = ()

    def __iter__(self):
        return iter(self.metrics)

    def __len__(self) -> int:
        return len(self.metrics)

    @property
    def active(self) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics if m.active)

    def get(self, metric_id: str) -> Metric | None:
        return next((m for m in self.metrics if m.metric_id == metric_id), None)

    def by_seed_column(self) -> dict[str, Metric]:
        return {m.seed_column: m for m in self.metrics if m.seed_column}

    def stars_by_repo(self) -> dict[str, Metric]:
        return {m.subject: m for m in self.metrics if m.family == "stars"}

    def search_terms(self) -> list[str]:
        """Every product's terms once each, in catalog order."""
        return list(dict.fromkeys(t for p in self.products for t in p.search_terms))

    def products_for_terms(self, terms) -> list[str]:
        """Products whose terms include any of `terms` (case-insensitive, as search is)."""
        wanted = {t.casefold() for t in terms}
        return sorted(
            p.name for p in self.products if wanted & {t.casefold() for t in p.search_terms}
        )

    def metric_ids_for_products(self, products) -> list[str]:
        return sorted(m.metric_id for m in self.metrics if m.product in set(products))


def _entry_error(path: Path, index: int, entry: dict, fld: str, problem: str) -> CatalogError:
    name = entry.get("metric_id") if isinstance(entry.get("metric_id"), str) else f"#{index}"
    return CatalogError(f"{path}: metric {name!r} (entry {index}), field {fld!r}: {problem}")


def _parse_entry(path: Path, index: int, entry: dict) -> Metric:
    if not isinstance(entry, dict):
        raise CatalogError(f"{path}: entry {index} is not a table; write it as [[metric]].")
    unknown = sorted(set(entry) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise _entry_error(
            path,
            index,
            entry,
            unknown[0],
            f"unknown field; allowed fields are {', '.join(REQUIRED + tuple(OPTIONAL))}",
        )
    values: dict = {}
    for fld in REQUIRED:
        value = entry.get(fld)
        if not isinstance(value, str) or not value.strip():
            raise _entry_error(path, index, entry, fld, "required, a non-empty string")
        values[fld] = value.strip()
    for fld, default in OPTIONAL.items():
        value = entry.get(fld, default)
        expected = bool if isinstance(default, bool) else str
        if value is not None and not isinstance(value, expected):
            raise _entry_error(path, index, entry, fld, f"must be a {expected.__name__}")
        values[fld] = value.strip() if isinstance(value, str) else value

    if not METRIC_ID_RE.match(values["metric_id"]):
        raise _entry_error(
            path,
            index,
            entry,
            "metric_id",
            "must look like family:product:sdk in lower case, e.g. downloads:lancedb:python",
        )
    family, source = values["family"], values["source"]
    if family not in FAMILIES:
        raise _entry_error(path, index, entry, "family", f"must be one of {', '.join(FAMILIES)}")
    if not values["metric_id"].startswith(f"{family}:"):
        raise _entry_error(path, index, entry, "metric_id", f"must start with '{family}:'")
    if source not in SOURCES:
        raise _entry_error(path, index, entry, "source", f"must be one of {', '.join(SOURCES)}")
    if source not in FAMILIES[family]:
        raise _entry_error(
            path,
            index,
            entry,
            "source",
            f"{family} metrics come from {', '.join(FAMILIES[family])}, not {source}",
        )
    if source == "github" and not REPO_RE.match(values["subject"]):
        raise _entry_error(path, index, entry, "subject", "must be a repository as owner/name")
    if values["mirrors"] and source != "pypistats":
        raise _entry_error(path, index, entry, "mirrors", "only applies to source 'pypistats'")
    return Metric(**values)


def load_catalog(seed_dir: Path) -> Catalog:
    """Read and validate `catalog.toml` from the seed folder."""
    path = Path(seed_dir) / CATALOG_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(
            f"{path} not found: the catalog defines what is tracked; copy the default from the "
            "repository's seed_data/ or point CM_SEED_DIR at a folder that has one."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"metric", "products"})
    if unknown:
        raise CatalogError(
            f"{path}: unknown top-level key {unknown[0]!r}; list metrics as [[metric]] and "
            "mention search terms as [products.NAME]."
        )
    entries = data.get("metric", [])
    if not entries:
        raise CatalogError(f"{path}: no [[metric]] entries; add at least one metric.")
    metrics = [_parse_entry(path, i, entry) for i, entry in enumerate(entries, start=1)]
    seen: dict[str, int] = {}
    columns: dict[str, str] = {}
    for i, metric in enumerate(metrics, start=1):
        if metric.metric_id in seen:
            raise CatalogError(
                f"{path}: metric {metric.metric_id!r} (entry {i}), field 'metric_id': duplicate of "
                f"entry {seen[metric.metric_id]}"
            )
        seen[metric.metric_id] = i
        if metric.seed_column:
            if metric.seed_column in columns:
                raise CatalogError(
                    f"{path}: metric {metric.metric_id!r} (entry {i}), field 'seed_column': "
                    f"{metric.seed_column!r} already feeds {columns[metric.seed_column]!r}"
                )
            columns[metric.seed_column] = metric.metric_id
    repos = [m.subject for m in metrics if m.family == "stars"]
    if len(repos) != len(set(repos)):
        raise CatalogError(f"{path}: two stars metrics track the same repository subject.")
    return Catalog(path=path, metrics=tuple(metrics), products=_parse_products(path, data))


def _parse_products(path: Path, data: dict) -> tuple[Product, ...]:
    products = data.get("products", {})
    if not isinstance(products, dict):
        raise CatalogError(f"{path}: 'products' must be tables written as [products.NAME].")
    out = []
    for name, entry in products.items():
        where = f"{path}: product {name!r}"
        if not re.fullmatch(_ID_PART, name):
            raise CatalogError(f"{where}: names are lower case letters, digits, '_', '.', '-'.")
        if not isinstance(entry, dict) or set(entry) - {"search_terms"}:
            raise CatalogError(f'{where}: the only field is search_terms = ["term", ...].')
        terms = entry.get("search_terms")
        if (
            not isinstance(terms, list)
            or not terms
            or not all(isinstance(t, str) and t.strip() for t in terms)
        ):
            raise CatalogError(f"{where}, field 'search_terms': a non-empty list of strings.")
        bad = next((t for t in terms if '"' in t), None)
        if bad is not None:
            raise CatalogError(
                f"{where}, field 'search_terms': {bad!r} contains a double quote; terms are "
                "searched as exact phrases already, write them without quotes."
            )
        out.append(Product(name, tuple(t.strip() for t in terms)))
    return tuple(out)
