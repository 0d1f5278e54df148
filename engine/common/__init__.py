"""engine/common: what every layer shares and that knows nothing of rules or bone density: errors
and exit statuses, the input limits, safe YAML/JSON reading, field paths, the fast schema check."""
