"""Build and maintenance scripts (run from the repository root)."""
