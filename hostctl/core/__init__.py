"""The floor every other module stands on: errors, names, paths, labels, locks,
progress reporting, private files and templates. It imports nothing else of hostctl."""
