"""Pure rules: plain functions of plain values, no ORM inside (STYLE.md)."""
