"""robustreid.evaluation."""
