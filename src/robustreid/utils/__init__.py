"""Small shared helpers (the name registry, lazy package exports, device names, seeding, atomic file writes)."""
