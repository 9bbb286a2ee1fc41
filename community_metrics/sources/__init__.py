"""Raw sources stage: API clients (plain Python) and the raw assets storing daily values."""
