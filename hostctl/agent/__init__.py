"""`hostctl serve`: the agent (webhooks, the deploy workers, reconcile and backups)."""
