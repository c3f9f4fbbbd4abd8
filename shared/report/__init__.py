"""The health report: built from plain inputs (pure), rendered as JSON, HTML or text."""
