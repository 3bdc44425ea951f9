"""GitHub: the token hostctl uses, repository specs, and the per-app deploy keys.

The API calls themselves are in ``hostctl.adapters.github``; nothing here runs until
`hostctl github connect` was run or an app names a repository.
"""

# GitHub Enterprise Server's API URL, for `github connect` and setup's GitHub step.
API_URL_ENV = "HOSTCTL_GITHUB_API_URL"
