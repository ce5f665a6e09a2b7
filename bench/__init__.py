"""Benchmarks of §19: each against a baseline measured side by side in the same run."""
