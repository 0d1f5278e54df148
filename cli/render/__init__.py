"""cli/render: renderers from the engine's typed results to text, Markdown and JSON, with the
escaping every input-derived string gets per format."""
