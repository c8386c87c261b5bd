"""robustreid.engine."""
