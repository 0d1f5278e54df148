"""engine/authoring."""
