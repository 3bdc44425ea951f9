"""Provisioning a box: steps as data (check, apply, verify), run in order by one runner."""
