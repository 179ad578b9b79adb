"""The MCP server: the same service, reached through the Model Context Protocol.

Agents increasingly call tools through MCP rather than a shell. Every tool here
calls the Python SDK (``image_skill.client.Client``), so grants, quotas, rate
limits and envelopes are exactly the CLI's and the API's: ``stdio`` serves one
local agent (``image-skill mcp``), ``http`` serves Streamable HTTP at ``/mcp``
on the running service with the caller's bearer token. Results are shaped in
``results`` (resource links, never full base64 images; a size cap).
"""
