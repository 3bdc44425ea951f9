"""Support code of the tests' fixtures, importable by the bench scripts too (never import
tests/conftest.py, which holds only the fixtures): the run's namespace and isolated roots
(env), the CLI, fixture repos and load (hostctl), the agent, backups, sshd and a fresh VPS."""
