"""community-metrics: weekly open-source adoption signals in LanceDB, orchestrated by Dagster."""
