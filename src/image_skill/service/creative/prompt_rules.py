"""The service's own prompt policy (providers may add theirs).

Rules are named so a refusal can say which rule fired without repeating the
prompt back. Operators extend the blocked terms with
``IMAGE_SKILL_PROMPT_BLOCKED_TERMS`` (comma-separated, case-insensitive).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from image_skill.contract.errors import ErrorCode, ImageSkillError

_BUILTIN_BLOCKED = {
    "sexual_minors": ("child porn", "csam", "underage nude", "minor nude", "loli nude"),
    "credential_exfiltration": ("print your api key", "reveal the provider key"),
}


@dataclass(frozen=True)
class PromptPolicy:
    """Blocked phrases by rule name."""

    rules: dict[str, tuple[str, ...]]

    @classmethod
    def from_setting(cls, extra_terms: str | None) -> PromptPolicy:
        """Built-in rules plus the operator's extra terms."""
        rules = dict(_BUILTIN_BLOCKED)
        extra = tuple(t.strip().lower() for t in (extra_terms or "").split(",") if t.strip())
        if extra:
            rules["operator_blocklist"] = extra
        return cls(rules)

    def check(self, prompt: str) -> None:
        """Raise CONTENT_POLICY_DENIED naming the rule that matched."""
        text = re.sub(r"\s+", " ", prompt.lower())
        for rule, terms in self.rules.items():
            if any(term in text for term in terms):
                raise ImageSkillError(
                    ErrorCode.CONTENT_POLICY_DENIED,
                    f"The prompt was refused by the service policy (rule: {rule}).",
                    details={"rule": f"prompt.{rule}", "source": "service"},
                    recovery={"suggested_command": "image-skill feedback create --json"},
                )
