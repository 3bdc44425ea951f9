"""Apps: lifecycle, inspection and hostnames."""
