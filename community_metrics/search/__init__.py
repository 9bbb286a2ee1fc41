"""Search stage: semantic, keyword and hybrid search over community mentions."""
