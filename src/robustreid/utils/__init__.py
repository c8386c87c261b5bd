"""Small shared helpers (registry, seeding, atomic file writes)."""
