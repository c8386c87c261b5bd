"""robustreid.data."""
