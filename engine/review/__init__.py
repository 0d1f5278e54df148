"""engine/review."""
