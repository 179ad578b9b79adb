"""The web console: server-rendered pages for the humans behind the agents."""
