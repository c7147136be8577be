"""Health, metrics and the dashboard's counts."""
