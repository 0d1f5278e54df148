"""engine/review: the editorial workflow: the hash-chained review ledger and the statuses and
decisions read from it (governance)."""
