"""engine/adapters/dxa."""
