"""robustreid.memory."""
