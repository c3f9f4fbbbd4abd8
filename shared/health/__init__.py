"""The health of each site's two paths."""
