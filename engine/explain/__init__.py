"""engine/explain: why a conclusion was drawn or not. Entry points in explainer.py; one module per
job (index, vocabulary, trace, provenance, why, why_not, model, wording, serialise, domain_hints)."""
