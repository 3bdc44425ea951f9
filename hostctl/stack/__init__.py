"""Turning an app's source into an image: detection, Procfile, app.json, Dockerfile templates."""
