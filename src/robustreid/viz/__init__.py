"""robustreid.viz."""
