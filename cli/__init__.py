"""bmdkb command line."""
