"""Anomaly discovery: request logs -> every-combination monitor, frequent patterns, metric series -> findings."""
