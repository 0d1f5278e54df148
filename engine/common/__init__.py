"""engine/common."""
