"""The activity ledger: auditable events per organization."""
