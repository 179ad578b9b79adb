"""The service in-process through Starlette's TestClient, and real servers where needed."""
