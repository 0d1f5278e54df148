"""engine/kb."""
