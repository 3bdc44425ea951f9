"""git push over SSH: push keys, the forced-command shell, the push repos and their hook."""
