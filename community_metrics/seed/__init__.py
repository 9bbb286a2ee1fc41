"""Seed stage: the metric catalog and the CSV bootstrap from the seed folder."""
