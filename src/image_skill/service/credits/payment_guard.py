"""Refuse any request that carries payment credentials.

Card data is entered only on Stripe-hosted pages. A request whose JSON holds a
field that looks like a card number, CVC, wallet secret or provider secret key
is refused before anything else happens, and the refusal never repeats the
value.
"""

from __future__ import annotations

import re
from typing import Any

from image_skill.contract.errors import ErrorCode, ImageSkillError

_FIELD = re.compile(
    r"(card|cvc|cvv|pan$|exp_?(month|year)|expiry|wallet|seed_phrase|mnemonic|private_key|"
    r"secret|password|payment_method_data|spt|mpp|shared_payment_token|stripe_key|api_key)",
    re.IGNORECASE,
)
# Provider secrets are refused wherever they appear in a value ("run-sk_live_..." too),
# since accepted values such as idempotency keys are stored and echoed back.
_SECRET_VALUE = re.compile(
    r"(?<![A-Za-z0-9])((sk|rk)_(live|test)_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9]{8,})|^spt_"
)
_DIGITS = re.compile(r"^[0-9][0-9 -]{11,22}[0-9]$")


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _offending(value: Any, path: str) -> str | None:
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _FIELD.search(str(key)) and key != "idempotency_key":
                return where
            found = _offending(item, where)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _offending(item, f"{path}[{index}]")
            if found:
                return found
    elif isinstance(value, str):
        text = value.strip()
        if _SECRET_VALUE.search(text) or (_DIGITS.match(text) and _luhn(text)):
            return path or "body"
    elif isinstance(value, int) and not isinstance(value, bool) and _luhn(str(abs(value))):
        return path or "body"  # a card number sent as a JSON number
    return None


def refuse_payment_credentials(body: Any) -> None:
    """Raise PAYMENT_CREDENTIALS_REFUSED naming the field (never its value)."""
    field = _offending(body, "")
    if field is not None:
        raise ImageSkillError(
            ErrorCode.PAYMENT_CREDENTIALS_REFUSED,
            f"Payment credentials are never accepted here (field '{field[:80]}'). "
            "Card details go only into Stripe-hosted checkout pages.",
            details={"field": field[:80]},
            recovery={
                "suggested_command": "image-skill credits buy --provider stripe "
                "--quote-id QUOTE_ID --idempotency-key KEY --json"
            },
        )
