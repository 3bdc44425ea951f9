"""hostctl: push-to-deploy for many small apps on one Linux server."""

__version__ = "0.1.0"
