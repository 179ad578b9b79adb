"""Provider adapters against local fakes of their vendors' APIs."""
