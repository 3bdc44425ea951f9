"""SQLite-aware backups: online snapshots, archives, retention, offsite copies, restores,
restore drills, the schedule and Litestream replication. See docs/backups.md."""
