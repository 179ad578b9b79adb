"""Product feedback: structured signals from agents, deduplicated, never secrets."""
