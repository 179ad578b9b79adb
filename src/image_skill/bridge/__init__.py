"""``POST /v1/cli``: public CLI commands run server-side from a JSON argv."""
