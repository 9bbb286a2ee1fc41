import pytest

from community_metrics.catalog import CatalogError, load_catalog
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
