"""End-to-end tests in real musl interpreters (see docs/e2e.md)."""
