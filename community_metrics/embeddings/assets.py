"""The embeddings asset: vectors for new and changed mentions, in the search table."""

import dagster as dg

from community_metrics.embeddings.embedders import build_embedder, embedder_id
from community_metrics.embeddings.sync import sync_embeddings
from community_metrics.mentions.assets import mentions
from community_metrics.resources import MetricsResources
from community_metrics.seed.assets import example_mentions
from community_metrics.store import EMBEDDINGS_TABLE, WriteResult
from community_metrics.tracking import store_asset, tracked, write_metadata


@store_asset(
    group="embeddings",
    kinds={"onnx"},
    deps=[mentions, example_mentions],
    pool="lancedb_embeddings",
    description="Mention vectors for semantic search (CM_EMBEDDER): only new or changed "
    "mentions are embedded; a different embedder re-embeds all.",
)
def mention_embeddings(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    cm: MetricsResources = context.resources.cm
    store = cm.store
    settings = cm.settings.embedder
    with tracked(context, store) as outcome:
        result = sync_embeddings(
            store,
            embedder_id(settings),
            lambda: build_embedder(settings),
            progress=lambda done, total: context.log.info(f"embedded {done} of {total} mentions"),
        )
        for write in result.writes:
            outcome.add(write)
    if result.replaced_embedders:
        context.log.info(
            f"embedder changed from {result.replaced_embedders} to {embedder_id(settings)}: "
            f"re-embedded all {result.embedded} mentions"
        )
    usage = result.usage
    info = store.embeddings_info()
    metadata = {
        "embedder": dg.MetadataValue.text(embedder_id(settings)),
        "dim": dg.MetadataValue.int(result.dim or 0),
        "mentions": dg.MetadataValue.int(result.mentions),
        "embedded": dg.MetadataValue.int(result.embedded),
        "reused_vectors": dg.MetadataValue.int(result.reused),
        "unchanged": dg.MetadataValue.int(result.unchanged),
        "replaced_embedders": dg.MetadataValue.json(result.replaced_embedders),
        "texts_per_second": dg.MetadataValue.float(
            round(result.embedded / result.seconds_embedding, 1)
            if result.seconds_embedding
            else 0.0
        ),
        "embedding_requests": dg.MetadataValue.int(usage.requests if usage else 0),
        "prompt_tokens": dg.MetadataValue.int(usage.prompt_tokens if usage else 0),
        "truncated_inputs": dg.MetadataValue.int(usage.truncated_inputs if usage else 0),
        "indexes": dg.MetadataValue.json(info["indexes"]),
    }
    # Nothing embedded is still a write report: 0 rows, 0 inserted, the table as it stands.
    version = store.table_versions([EMBEDDINGS_TABLE])[EMBEDDINGS_TABLE] or 0
    nothing = WriteResult(EMBEDDINGS_TABLE, 0, 0, 0, 0, version)
    metadata.update(
        write_metadata(WriteResult.total(result.writes) if result.writes else nothing, info["rows"])
    )
    return dg.MaterializeResult(metadata=metadata)
