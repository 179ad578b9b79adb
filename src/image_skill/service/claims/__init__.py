"""Human claims: an agent's sponsor confirms it through a one-time emailed link."""
