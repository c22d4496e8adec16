"""The web chat page: a single-page demo client served at `/` (docs in README.md)."""
