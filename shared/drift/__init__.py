"""Drift reconciliation: observe (ARM -> plain data), diff (pure), plan (pure), apply.

The pure modules (resources, observed, desired, diff, plan) never import an Azure SDK."""
