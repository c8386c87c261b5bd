"""robustreid.cli."""
