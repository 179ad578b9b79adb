"""Every answer checked against the app's own ``/openapi.json``: the documented schemas must
be true of what the service really sends.

``SpecConformance`` is an httpx response hook. For each JSON answer it finds the
operation (the spec's path templates), the response documented for the status
(exact, then ``2XX``/``4XX``/``5XX``) and validates the body with ``jsonschema``
against that schema, its ``$ref``s resolved inside the spec. Objects are checked
closed: a field the documentation does not name fails, unless the schema itself
allows any fields (``dict[str, Any]``, the error's ``recovery``), so the models
cannot quietly fall behind the answers.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator


def closed(schema: Any) -> Any:
    """A copy of ``schema`` where every object that lists its properties allows no others."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) for key, value in schema.items()}
    if "properties" in result and "additionalProperties" not in result:
        result["additionalProperties"] = False
    return result


class SpecConformance:
    """Validates answers against ``spec`` and remembers which (method, path, status) it saw."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.components = closed(copy.deepcopy(spec.get("components", {})))
        self.seen: set[tuple[str, str, int]] = set()
        self.checked = 0
        self._templates = [
            (re.compile("^" + re.sub(r"\{[^/}]+\}", "[^/]+", path) + "$"), path)
            for path in spec["paths"]
        ]

    def template(self, path: str) -> str | None:
        """The spec path ``path`` is an instance of (None when undocumented)."""
        matches = [template for pattern, template in self._templates if pattern.match(path)]
        # A literal path beats a template that also matches (``/v1/claims`` vs ``{id}``).
        return min(matches, key=lambda t: t.count("{")) if matches else None

    def documented(self, method: str, template: str, status: int) -> dict[str, Any]:
        """The response object the spec documents for ``status``."""
        responses: dict[str, Any] = self.spec["paths"][template][method]["responses"]
        for key in (str(status), f"{status // 100}XX", "default"):
            if key in responses:
                found: dict[str, Any] = responses[key]
                return found
        raise AssertionError(f"{method.upper()} {template} answered an undocumented {status}")

    def check(self, response: httpx.Response) -> None:
        """Validate one answer (a response hook: non-JSON and undocumented paths are skipped
        unless they are under ``/v1/``, where every answer must be documented)."""
        response.read()
        method = response.request.method.lower()
        path = response.request.url.path
        template = self.template(path)
        if template is None or method not in self.spec["paths"][template]:
            assert not path.startswith("/v1/"), f"{method.upper()} {path} is not in the spec"
            return
        if not response.headers.get("content-type", "").startswith("application/json"):
            return
        documented = self.documented(method, template, response.status_code)
        schema = documented.get("content", {}).get("application/json", {}).get("schema")
        assert schema, f"{method.upper()} {template} {response.status_code}: no JSON schema"
        self.validate(schema, response.json(), f"{method.upper()} {path}")
        self.seen.add((method, template, response.status_code))
        self.checked += 1

    def validate(self, schema: dict[str, Any], body: Any, where: str) -> None:
        """Assert ``body`` fits ``schema`` (refs resolved in the spec's components)."""
        root = {**closed(schema), "components": self.components}
        errors = sorted(Draft202012Validator(root).iter_errors(body), key=lambda e: e.json_path)
        problems = [f"{error.json_path}: {error.message}"[:300] for error in errors[:10]]
        assert not problems, f"{where} does not match its documented schema:\n" + "\n".join(
            problems
        )
