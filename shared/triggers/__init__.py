"""One blueprint per capability: parse input, call the core, shape output."""
