"""The metric catalog: the single definition of what is tracked.

Users edit `catalog.toml` in the seed folder; everything else (the `metrics` table, seed parsing,
weekly metrics) reads it through `load_catalog`, so there is no second list to keep in sync.
pydantic checks each entry's types and fields; the validators here check what the values mean.
Every error is rewritten as one line naming the file, the entry and the field, so a user can fix
the file without reading a validation dump.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

CATALOG_FILE = "catalog.toml"
FAMILIES = {"downloads": ("pypistats", "npm", "cratesio"), "stars": ("github",)}
SOURCES = ("pypistats", "npm", "cratesio", "github")
_ID_PART = r"[a-z0-9][a-z0-9_.-]*"
METRIC_ID_RE = re.compile(rf"^{_ID_PART}:{_ID_PART}:{_ID_PART}$")
REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_TEXT = "a non-empty string"
_Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1), Field(description=_TEXT)
]
_Flag = Annotated[bool, Field(description="true or false")]


class CatalogError(ValueError):
    """The catalog file is invalid; the message names the entry and the field at fault."""


class _Rule(ValueError):
    """A catalog rule failed; `loc` says where, relative to the model that raised it."""

    def __init__(self, loc: tuple[str | int, ...], problem: str):
        super().__init__(problem)
        self.loc = loc


# Metric fields kept in the catalog only, not in the `metrics` table.
CATALOG_ONLY = {"former_names"}


class _Entry(BaseModel):
    """Immutable and strictly typed: in TOML, `3` is not a string and `"yes"` not a boolean."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Metric(_Entry):
    """One tracked series (a `[[metric]]` table); `as_row` is its row in the `metrics` table."""

    metric_id: _Text
    family: _Text
    product: _Text
    subject: _Text
    sdk: _Text
    source: _Text
    unit: _Text
    display_name: _Text
    active: _Flag = True
    seed_column: _Text | None = Field(None, description=_TEXT)
    mirrors: _Flag = False
    # Names the repository had before (GitHub redirects them, the events archive keeps them).
    former_names: tuple[_Text, ...] = Field(
        (), strict=False, description="a list of repositories as owner/name"
    )

    def __init__(self, *args: Any, **fields: Any) -> None:
        """Fields may also be given in order, as with the dataclass this model replaced."""
        names = tuple(type(self).model_fields)
        if len(args) > len(names):
            raise TypeError(f"Metric takes at most {len(names)} positional arguments")
        super().__init__(**dict(zip(names, args, strict=False)), **fields)

    @model_validator(mode="after")
    def _values_fit_together(self) -> Self:
        if not METRIC_ID_RE.match(self.metric_id):
            raise _Rule(
                ("metric_id",),
                "must look like family:product:sdk in lower case, e.g. downloads:lancedb:python",
            )
        family, source = self.family, self.source
        if family not in FAMILIES:
            raise _Rule(("family",), f"must be one of {', '.join(FAMILIES)}")
        if not self.metric_id.startswith(f"{family}:"):
            raise _Rule(("metric_id",), f"must start with '{family}:'")
        if source not in SOURCES:
            raise _Rule(("source",), f"must be one of {', '.join(SOURCES)}")
        if source not in FAMILIES[family]:
            allowed = ", ".join(FAMILIES[family])
            raise _Rule(("source",), f"{family} metrics come from {allowed}, not {source}")
        if source == "github" and not REPO_RE.match(self.subject):
            raise _Rule(("subject",), "must be a repository as owner/name")
        if self.mirrors and source != "pypistats":
            raise _Rule(("mirrors",), "only applies to source 'pypistats'")
        if self.former_names and source != "github":
            raise _Rule(("former_names",), "only applies to source 'github'")
        for name in self.former_names:
            if not REPO_RE.match(name) or name == self.subject:
                raise _Rule(
                    ("former_names",),
                    f"{name!r} must be another repository as owner/name (not the subject)",
                )
        return self

    @property
    def archive_names(self) -> tuple[str, ...]:
        """Every name the archive may have recorded this repository's events under."""
        return (self.subject, *self.former_names)

    def as_row(self) -> dict:
        """The `metrics` table's columns (former names stay in the catalog: only the star
        history reads them)."""
        return self.model_dump(exclude=CATALOG_ONLY)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Metric:
        """The metric a `metrics` table row (as_row) describes."""
        return cls(**{k: row[k] for k in cls.model_fields if k not in CATALOG_ONLY})


class Product(_Entry):
    """A product's community-mention search terms (`[products.NAME]` in the catalog)."""

    name: str
    search_terms: tuple[_Text, ...] = Field(
        min_length=1, strict=False, description="a non-empty list of strings"
    )

    @field_validator("name")
    @classmethod
    def _name_is_an_id(cls, name: str) -> str:
        if not re.fullmatch(_ID_PART, name):
            raise ValueError("names are lower case letters, digits, '_', '.', '-'")
        return name

    @field_validator("search_terms")
    @classmethod
    def _terms_have_no_quotes(cls, terms: tuple[str, ...]) -> tuple[str, ...]:
        bad = next((t for t in terms if '"' in t), None)
        if bad is not None:
            raise ValueError(
                f"{bad!r} contains a double quote; terms are searched as exact phrases already, "
                "write them without quotes"
            )
        return terms


PYPI_ROUTINE = ("pypistats", "clickpy")


class CatalogSettings(_Entry):
    """Catalog-wide choices (`[settings]`)."""

    # ClickPy answers a whole catalog in one query, where pypistats' 30 calls a minute make a
    # 1,000-package refresh take 33 minutes; pypistats stays the default, as the user's
    # choice of the figure they compare with.
    pypi_routine_source: _Text = Field("pypistats", description="'pypistats' or 'clickpy'")

    @field_validator("pypi_routine_source")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in PYPI_ROUTINE:
            raise ValueError(f"must be one of {', '.join(PYPI_ROUTINE)}")
        return value


class Catalog(BaseModel):
    """The validated catalog; iterating it yields its metrics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path
    metrics: tuple[Metric, ...] = Field(min_length=1)
    products: tuple[Product, ...] = ()
    settings: CatalogSettings = CatalogSettings()

    @model_validator(mode="after")
    def _entries_are_unique(self) -> Self:
        """One entry per metric id, per seed column and per starred repository."""
        ids: dict[str, int] = {}
        columns: dict[str, Metric] = {}
        repos: dict[str, Metric] = {}
        for i, metric in enumerate(self.metrics):
            if metric.metric_id in ids:
                raise _Rule(
                    ("metrics", i, "metric_id"), f"duplicate of entry {ids[metric.metric_id] + 1}"
                )
            ids[metric.metric_id] = i
            column = metric.seed_column
            if column and (other := columns.setdefault(column, metric)) is not metric:
                raise _Rule(
                    ("metrics", i, "seed_column"),
                    f"{column!r} already feeds {other.metric_id!r}",
                )
            if metric.family == "stars" and (
                (other := repos.setdefault(metric.subject, metric)) is not metric
            ):
                raise _Rule(
                    ("metrics", i, "subject"),
                    f"{metric.subject!r} is already tracked by {other.metric_id!r}; keep one stars "
                    "metric per repository",
                )
        return self

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


def load_catalog(seed_dir: Path) -> Catalog:
    """Read and validate `catalog.toml` from the seed folder."""
    path = Path(seed_dir) / CATALOG_FILE
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise CatalogError(
            f"{path} not found: the catalog defines what is tracked; copy the default from the "
            "repository's seed_data/ or point CM_SEED_DIR at a folder that has one."
        ) from None
    except UnicodeDecodeError as exc:
        raw = path.read_bytes()
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CatalogError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}): save the catalog as "
            "UTF-8."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from None
    entries = data.pop("metric", ())
    tables = data.pop("products", {})
    options = data.pop("settings", {})
    if data:
        raise CatalogError(
            f"{path}: unknown top-level key {sorted(data)[0]!r}; list metrics as [[metric]], "
            "mention search terms as [products.NAME] and catalog options under [settings]."
        )
    if not isinstance(options, dict):
        raise CatalogError(f"{path}: 'settings' must be a table written as [settings].")
    try:
        settings = CatalogSettings(**options)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = error["loc"][0] if error["loc"] else "?"
        problem = (
            f"unknown field; allowed fields are {', '.join(CatalogSettings.model_fields)}"
            if error["type"] == "extra_forbidden"
            else error["msg"].removeprefix("Value error, ")
        )
        raise CatalogError(f"{path}: [settings], field {field!r}: {problem}") from None
    if not isinstance(tables, dict):
        raise CatalogError(f"{path}: 'products' must be tables written as [products.NAME].")
    # A [products.NAME] table's key is its product's name; a `name` inside it would be dropped.
    for name, table in tables.items():
        if isinstance(table, dict) and "name" in table:
            raise CatalogError(
                f"{path}: product {name!r}, field 'name': unknown field; the product's name is "
                f"the table's key [products.{name}], remove the field."
            )
    products = [{**t, "name": name} if isinstance(t, dict) else t for name, t in tables.items()]
    try:
        return Catalog(path=path, metrics=entries, products=products, settings=settings)
    except ValidationError as exc:
        raise CatalogError(f"{path}: {_describe(exc, entries, list(tables.items()))}") from None


def _describe(exc: ValidationError, entries: Any, tables: list[tuple[str, Any]]) -> str:
    """pydantic's first error as: which entry, which field, and what to write instead."""
    errors = exc.errors(include_url=False)
    # A misspelt field also shows up as a missing one; naming the misspelling is the useful fix.
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc, cause = error["loc"], error.get("ctx", {}).get("error")
    if isinstance(cause, _Rule):
        loc = (*loc, *cause.loc)
    if loc[0] == "products":  # load_catalog passes a list, so errors are inside one table
        name, table = tables[loc[1]]
        if len(loc) == 2:
            return f'product {name!r}: write it as a table with search_terms = ["term", ...].'
        if loc[2] == "name":
            return f"product {name!r}: {cause}."
        problem = _problem(error, cause, _PRODUCT_TABLE, loc[2], table.get(loc[2]))
        return f"product {name!r}, field {loc[2]!r}: {problem}"
    if len(loc) == 1:
        if error["type"] == "too_short":
            return "no [[metric]] entries; add at least one metric."
        return "'metric' must be tables written as [[metric]]."
    index = loc[1] + 1
    if len(loc) == 2:
        return f"entry {index} is not a table; write it as [[metric]]."
    entry, field = entries[loc[1]], loc[2]
    name = entry["metric_id"] if isinstance(entry.get("metric_id"), str) else f"#{index}"
    problem = _problem(error, cause, Metric.model_fields, field, entry.get(field))
    return f"metric {name!r} (entry {index}), field {field!r}: {problem}"


# The fields a [products.NAME] table may hold: its name is the table's key.
_PRODUCT_TABLE = {k: v for k, v in Product.model_fields.items() if k != "name"}


def _problem(
    error: Any, cause: Any, fields: Mapping[str, FieldInfo], field: str, value: Any
) -> str:
    if cause is not None:  # one of our rules: its message says what is wrong
        return str(cause)
    if error["type"] == "extra_forbidden":
        return f"unknown field; allowed fields are {', '.join(fields)}"
    expected = fields[field].description
    if error["type"] == "missing":
        return f"required, {expected}"
    return f"must be {expected}, not {value!r}"
