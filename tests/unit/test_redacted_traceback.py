"""Logged tracebacks keep types and frames and drop every exception message."""

from __future__ import annotations

from image_skill.service.redacted_traceback import redacted_traceback

SECRET = "prompt: a red fox; url https://cdn.example/x?sig=sk-live-123"


def _leaf() -> None:
    raise ValueError(SECRET)


def _wrapper() -> None:
    try:
        _leaf()
    except ValueError as exc:
        raise RuntimeError(f"wrapping {SECRET}") from exc


def _caught(function: object) -> BaseException:
    try:
        function()  # type: ignore[operator]
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def test_messages_are_withheld_and_frames_kept() -> None:
    text = redacted_traceback(_caught(_wrapper))
    assert SECRET not in text and "sk-live" not in text and "red fox" not in text
    assert "builtins.ValueError: <message withheld>" in text
    assert "builtins.RuntimeError: <message withheld>" in text
    assert text.index("ValueError") < text.index("RuntimeError")  # cause first, like Python
    assert "_leaf" in text and "_wrapper" in text and __file__ in text


def test_implicit_context_is_followed_unless_suppressed() -> None:
    def context() -> None:
        try:
            _leaf()
        except ValueError:
            raise KeyError(SECRET)  # noqa: B904 - an implicit context on purpose

    def suppressed() -> None:
        try:
            _leaf()
        except ValueError:
            raise KeyError(SECRET) from None

    assert "ValueError" in redacted_traceback(_caught(context))
    assert "ValueError" not in redacted_traceback(_caught(suppressed))
    assert SECRET not in redacted_traceback(_caught(context))
