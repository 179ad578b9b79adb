"""The usage guide over HTTP: the home page, the shipped guide texts and offline API docs."""
