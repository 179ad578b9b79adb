"""The service's home page: a plain HTML pointer to the CLI, the guide and the API docs.

No script, no external resource, every interpolated value escaped; the base
URL it shows comes from ``IMAGE_SKILL_PUBLIC_BASE_URL`` when set (else from the
request, escaped like anything else).
"""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

from image_skill import __version__

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5}pre{background:#f4f4f4;padding:.75rem;overflow-x:auto}"
)
_LINKS = (
    ("/skill.md", "Agent guide", "first run, every command with an example, budgets, errors"),
    ("/cli.md", "CLI reference", "every command and flag"),
    ("/llms.txt", "llms.txt", "a short index for language models"),
    ("/docs", "HTTP API reference", "interactive, works offline"),
    ("/openapi.json", "OpenAPI document", "the machine-readable API description"),
    ("/console", "Console", "for the humans behind the agents: images, jobs, spending, tokens"),
)
_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def home_page(base_url: str) -> HTMLResponse:
    """The home page for a service reachable at ``base_url``."""
    base = escape(base_url)
    links = "\n".join(
        f'<li><a href="{path}">{escape(title)}</a>: {escape(about)}</li>'
        for path, title, about in _LINKS
    )
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Image Skill</title><style>{_STYLE}</style></head>
<body>
<h1>Image Skill</h1>
<p>A creative runtime for AI agents: create, edit, store and account for images through
one command line tool or this HTTP API. Every answer is a JSON envelope with stable error
codes and a next step. Version {escape(__version__)}.</p>
<h2>Use it from an agent</h2>
<pre>pip install image-skill
export IMAGE_SKILL_API_BASE_URL={base}
image-skill signup --agent --human-email you@example.com --agent-name my-agent --save
image-skill skill        # the full guide, offline
image-skill create --prompt "a lighthouse at dusk" --json</pre>
<p>If <code>image-skill</code> is not found after installing, it is in the
<code>bin/</code> directory of the Python environment you installed it into.</p>
<h2>Documentation</h2>
<ul>
{links}
</ul>
</body></html>
"""
    return HTMLResponse(html, headers=_HEADERS)
