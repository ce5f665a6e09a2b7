"""Trilateral talent exchange (§25): mobility calls, visit applications, awards and visits."""
