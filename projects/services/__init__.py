"""Services: every change of domain state (STYLE.md)."""
