"""Checks of uploaded files by content (§17)."""
