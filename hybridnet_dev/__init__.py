"""Development-only tools: the Azure simulator, the local Functions host, Azurite. Never deployed."""
