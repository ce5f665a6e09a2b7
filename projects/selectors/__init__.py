"""Selectors: read-side queries, filtered in SQL."""
