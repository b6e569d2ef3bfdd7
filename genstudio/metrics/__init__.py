"""genstudio."""
