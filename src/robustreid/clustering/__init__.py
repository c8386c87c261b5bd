"""robustreid.clustering."""
