"""Credits: the append-only ledger, quotes and purchases."""
