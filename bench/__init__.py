"""Benchmarks: speed, memory and accuracy measurements whose results are written down in RESULTS.md."""
