"""Signed completion webhooks: a job's terminal state, POSTed to the URL its organization chose."""
