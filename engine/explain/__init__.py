"""engine/explain."""
