"""Fast tests of pure functions: no server, no database."""
