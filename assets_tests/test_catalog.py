import pytest

from community_metrics.catalog import CatalogError, Metric, load_catalog
from community_metrics.config import PROJECT_ROOT

ENTRY = """
[[metric]]
metric_id = "downloads:lancedb:python"
family = "downloads"
product = "lancedb"
subject = "lancedb"
sdk = "python"
source = "pypistats"
unit = "downloads"
display_name = "Python (lanceDB)"
"""


def test_default_catalog_tracks_the_seven_lance_metrics():
    catalog = load_catalog(PROJECT_ROOT / "seed_data")
    assert {(m.metric_id, m.source, m.subject) for m in catalog} == {
        ("downloads:lance:python", "pypistats", "pylance"),
        ("downloads:lancedb:python", "pypistats", "lancedb"),
        ("downloads:lancedb:nodejs", "npm", "@lancedb/lancedb"),
        ("downloads:lance:rust", "cratesio", "lance"),
        ("downloads:lancedb:rust", "cratesio", "lancedb"),
        ("stars:lance:github", "github", "lance-format/lance"),
        ("stars:lancedb:github", "github", "lancedb/lancedb"),
    }
    assert all(m.active for m in catalog)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('source = "pypistats"', 'source = "github"'), "field 'source': downloads metrics come"),
        (('family = "downloads"', 'family = "forks"'), "field 'family': must be one of"),
        (('unit = "downloads"\n', ""), "field 'unit': required"),
        (('sdk = "python"', 'sdk = "python"\ncolour = "red"'), "field 'colour': unknown field"),
        (('metric_id = "downloads:lancedb:python"', 'metric_id = "Downloads"'), "'metric_id'"),
        (('display_name = "Python (lanceDB)"', "display_name = 3"), "field 'display_name'"),
        (('sdk = "python"', 'sdk = "python"\nmirrors = true\nactive = "yes"'), "field 'active'"),
    ],
)
def test_invalid_entry_names_metric_and_field(tmp_path, change, message):
    (tmp_path / "catalog.toml").write_text(ENTRY.replace(*change))
    with pytest.raises(CatalogError) as err:
        load_catalog(tmp_path)
    assert message in str(err.value)
    assert "catalog.toml" in str(err.value)


def test_duplicate_metric_is_rejected(tmp_path):
    (tmp_path / "catalog.toml").write_text(ENTRY + ENTRY)
    with pytest.raises(CatalogError, match="'downloads:lancedb:python' \\(entry 2\\).*duplicate"):
        load_catalog(tmp_path)


def test_missing_catalog_says_what_to_do(tmp_path):
    with pytest.raises(CatalogError, match="not found.*CM_SEED_DIR"):
        load_catalog(tmp_path)


def catalog_error(tmp_path, text) -> str:
    """The one-line error load_catalog raises for a catalog.toml holding `text`."""
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    with pytest.raises(CatalogError) as err:
        load_catalog(tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


METRIC = "metric 'downloads:lancedb:python' (entry 1)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('sdk = "python"', 'sdk = "python"\nactive = "yes"'),
            f"{METRIC}, field 'active': must be true or false, not 'yes'",
        ),
        (
            ('sdk = "python"', 'sdk = "python"\nmirrors = 1'),
            f"{METRIC}, field 'mirrors': must be true or false, not 1",
        ),
        (
            ('display_name = "Python (lanceDB)"', "display_name = 3"),
            f"{METRIC}, field 'display_name': must be a non-empty string, not 3",
        ),
        (
            ('unit = "downloads"', 'unit = "  "'),
            f"{METRIC}, field 'unit': must be a non-empty string, not '  '",
        ),
        (
            ('sdk = "python"', 'sdk = "python"\nseed_column = ["a"]'),
            f"{METRIC}, field 'seed_column': must be a non-empty string, not ['a']",
        ),
        (
            ('unit = "downloads"', 'units = "downloads"'),
            f"{METRIC}, field 'units': unknown field; allowed fields are metric_id, family, "
            "product, subject, sdk, source, unit, display_name, active, seed_column, mirrors, "
            "former_names",
        ),
        (
            ('metric_id = "downloads:lancedb:python"', "metric_id = 7"),
            "metric '#1' (entry 1), field 'metric_id': must be a non-empty string, not 7",
        ),
        (
            ('metric_id = "downloads:lancedb:python"', 'metric_id = "stars:lancedb:python"'),
            "metric 'stars:lancedb:python' (entry 1), field 'metric_id': must start with "
            "'downloads:'",
        ),
        (
            ('source = "pypistats"', 'source = "npm"\nmirrors = true'),
            f"{METRIC}, field 'mirrors': only applies to source 'pypistats'",
        ),
    ],
)
def test_wrong_types_and_unknown_fields_name_file_entry_and_field(tmp_path, change, message):
    assert catalog_error(tmp_path, ENTRY.replace(*change)) == message


PRODUCT = "product 'lance'"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'search_terms = "x"',
            f"{PRODUCT}, field 'search_terms': must be a non-empty list of strings, not 'x'",
        ),
        (
            'search_terms = ["lance", 3]',
            f"{PRODUCT}, field 'search_terms': must be a non-empty list of strings, "
            "not ['lance', 3]",
        ),
        (
            "search_terms = []",
            f"{PRODUCT}, field 'search_terms': must be a non-empty list of strings, not []",
        ),
        (
            'search_terms = ["lance"]\ncolour = "red"',
            f"{PRODUCT}, field 'colour': unknown field; allowed fields are search_terms",
        ),
        (
            'terms = ["lance"]',
            f"{PRODUCT}, field 'terms': unknown field; allowed fields are search_terms",
        ),
        ("", f"{PRODUCT}, field 'search_terms': required, a non-empty list of strings"),
        (
            'search_terms = ["\\"lance format\\""]',
            f"{PRODUCT}, field 'search_terms': '\"lance format\"' contains a double quote",
        ),
    ],
)
def test_product_errors_name_the_product_and_field(tmp_path, table, message):
    assert catalog_error(tmp_path, f"{ENTRY}\n[products.lance]\n{table}\n").startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f'colour = "red"\n{ENTRY}',
            "unknown top-level key 'colour'; list metrics as [[metric]], mention search terms "
            "as [products.NAME] and catalog options under [settings].",
        ),
        (
            ENTRY.replace("[[metric]]", "[[metrics]]"),
            "unknown top-level key 'metrics'; list metrics as [[metric]]",
        ),
        ("", "no [[metric]] entries; add at least one metric."),
        ("metric = [1]", "entry 1 is not a table; write it as [[metric]]."),
        (f"products = 3\n{ENTRY}", "'products' must be tables written as [products.NAME]."),
        (f'{ENTRY}\n[products.Lance]\nsearch_terms = ["x"]\n', "product 'Lance': names are"),
        (
            ENTRY + ENTRY.replace(":python", ":nodejs") + '\n[products]\nlance = "x"\n',
            "product 'lance': write it as a table with search_terms",
        ),
        ("metric = [", "not valid TOML"),
    ],
)
def test_file_level_errors_are_one_line(tmp_path, text, message):
    assert message in catalog_error(tmp_path, text)


def test_two_metrics_cannot_share_a_seed_column_or_a_repository(tmp_path):
    fed = ENTRY.replace('sdk = "python"', 'sdk = "python"\nseed_column = "Python"')
    other = fed.replace("downloads:lancedb:python", "downloads:lance:python")
    assert catalog_error(tmp_path, fed + other) == (
        "metric 'downloads:lance:python' (entry 2), field 'seed_column': 'Python' already feeds "
        "'downloads:lancedb:python'"
    )
    star = (
        ENTRY.replace("downloads:lancedb:python", "stars:lancedb:github")
        .replace('family = "downloads"', 'family = "stars"')
        .replace('source = "pypistats"', 'source = "github"')
        .replace('subject = "lancedb"', 'subject = "lancedb/lancedb"')
    )
    twin = star.replace("stars:lancedb:github", "stars:lance:github")
    assert catalog_error(tmp_path, star + twin).startswith(
        "metric 'stars:lance:github' (entry 2), field 'subject': 'lancedb/lancedb' is already "
        "tracked by 'stars:lancedb:github'"
    )


def test_metric_is_a_frozen_hashable_row():
    metric = Metric("downloads:x:python", "downloads", "x", "x", "python", "pypistats", "d", "X")
    assert metric == Metric(**metric.as_row())
    assert {metric: 1}[metric] == 1
    assert list(metric.as_row()) == [
        "metric_id",
        "family",
        "product",
        "subject",
        "sdk",
        "source",
        "unit",
        "display_name",
        "active",
        "seed_column",
        "mirrors",
    ]
    with pytest.raises(ValueError, match="frozen"):
        metric.active = False


def test_catalog_iterates_its_metrics_and_keeps_products_in_order():
    catalog = load_catalog(PROJECT_ROOT / "seed_data")
    assert len(catalog) == len(catalog.metrics) == len(list(catalog))
    assert isinstance(catalog.metrics, tuple) and isinstance(catalog.products, tuple)
    assert all(isinstance(p.search_terms, tuple) for p in catalog.products)
    assert catalog.path == PROJECT_ROOT / "seed_data" / "catalog.toml"
    assert catalog.get("stars:lancedb:github").subject == "lancedb/lancedb"
    assert set(catalog.stars_by_repo()) == {"lance-format/lance", "lancedb/lancedb"}


def test_a_name_inside_a_product_table_is_refused_not_dropped(tmp_path):
    (tmp_path / "catalog.toml").write_text(
        ENTRY + '\n[products.lancedb]\nname = "other"\nsearch_terms = ["lancedb"]\n'
    )
    with pytest.raises(CatalogError, match=r"product 'lancedb', field 'name': unknown field"):
        load_catalog(tmp_path)


def test_a_catalog_that_is_not_utf8_names_the_file_and_line(tmp_path):
    (tmp_path / "catalog.toml").write_bytes(ENTRY.encode() + b"\n# caf\xe9\n")
    with pytest.raises(CatalogError, match=r"catalog.toml:\d+: not UTF-8 text \(byte 0xe9\)"):
        load_catalog(tmp_path)
