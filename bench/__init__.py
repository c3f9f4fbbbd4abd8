"""Benchmarks (`make bench`): scripts that print numbers. Never deployed."""
