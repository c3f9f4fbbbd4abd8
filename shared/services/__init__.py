"""Composition of the pure core with the Azure adapters, one module per capability. Triggers and the
CLI call these; tests drive them against the simulator and Azurite."""
