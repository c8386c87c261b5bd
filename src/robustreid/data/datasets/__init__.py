"""robustreid.data.datasets."""
