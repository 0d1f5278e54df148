"""engine/run: evaluating cases: read a case, facts, compile rules, the durable_rules runtime (the one
module that imports it), relevance filtering, the typed result document and its assembly, the
pipeline (evaluate), validate and batch."""
