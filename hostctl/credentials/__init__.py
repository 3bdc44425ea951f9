"""Saved connections to outside services (tokens, API URLs), kept 0600."""
