"""robustreid.models."""
