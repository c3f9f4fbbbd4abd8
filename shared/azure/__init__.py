"""The only modules that import Azure SDKs. Each imports its SDK lazily, inside functions, so that
importing `function_app` stays fast (no azure.mgmt at module load)."""
