"""The real CLI driven as a user drives it, against embedded mode and real servers."""
