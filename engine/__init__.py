"""bmdkb engine: load a clinical knowledge base, evaluate DXA cases, explain results."""
