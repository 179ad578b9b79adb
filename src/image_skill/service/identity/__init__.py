"""Organizations, humans, agents, tokens and claim states."""
