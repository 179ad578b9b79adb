"""Client-side input normalization shared by ``upload`` and ``edit``.

An input reference is one of:

* an asset id (``image_…``, ``asset_…`` …): used as is;
* an owned asset URL (``…/a/<asset_id>.<ext>``): the id is taken from it;
* an ``http(s)://`` URL: fetched here, on the client, then uploaded;
* a local path: read here, then uploaded.

Only the basename of a path and the ``scheme://host`` of a URL ever leave the
machine as metadata; messages never repeat a URL (it may carry a token), and
repeat a local path only in errors raised here, on the user's own machine
(the ``/v1/cli`` bridge refuses local paths before they are read).

Nothing is sent until its first bytes show an image format the service accepts
(magic bytes, :mod:`image_skill.imaging.sniff`, no Pillow), so pointing the
command at a secret text file or a device uploads nothing. Local paths that are
not regular files (directories, FIFOs, devices) are refused without blocking on
them; remote fetches keep an overall deadline and a size cap while streaming.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import pybase64

from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.imaging.limits import MAX_UPLOAD_BYTES
from image_skill.imaging.sniff import SNIFF_BYTES, describe_allowed, sniff_mime

if TYPE_CHECKING:
    from image_skill.client import Client
    from image_skill.result import Result

ASSET_ID_RE = re.compile(r"^(asset|image|video|audio|mask|thumb|file)_[A-Za-z0-9._-]{1,128}$")
FETCH_TIMEOUT_SECONDS = 30.0


def is_asset_id(value: str) -> bool:
    """True when ``value`` is an asset id of the contract's form."""
    return bool(ASSET_ID_RE.match(value))


def asset_id_from_url(url: str) -> str | None:
    """The asset id of an owned asset URL (``…/a/<asset_id>.<ext>``), else None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or "/a/" not in parts.path:
        return None
    segment = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    candidate = segment.rsplit(".", 1)[0] if "." in segment else segment
    if is_asset_id(candidate):
        return candidate
    return None


def is_web_url(value: str) -> bool:
    """True for an ``http://`` or ``https://`` URL with a host."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def owned_asset_id(reference: str) -> str | None:
    """The asset id that ``reference`` names directly (id or owned URL), else None."""
    value = reference.strip()
    if is_asset_id(value):
        return value
    return asset_id_from_url(value)


def classify(reference: str) -> str:
    """``asset_id``, ``owned_url``, ``remote_url`` or ``local_path``."""
    value = reference.strip()
    if is_asset_id(value) and not os.path.exists(value):
        return "asset_id"
    if asset_id_from_url(value) is not None:
        return "owned_url"
    if is_web_url(value):
        return "remote_url"
    return "local_path"


def remote_origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: no path, query, fragment or credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}"


def filename_from_path(path: str) -> str:
    """The basename of a local path (never the directories)."""
    name = os.path.basename(os.path.normpath(path))
    return name or "upload"


def filename_from_url(url: str) -> str:
    """The last path segment of a URL, decoded and stripped of any directories."""
    segment = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    name = os.path.basename(segment.replace("\\", "/"))
    return name or "upload"


@dataclass(frozen=True)
class UploadSource:
    """Image bytes read on the client, plus the metadata that may be sent."""

    source_kind: str  # local_path | remote_url
    filename: str
    remote_origin: str | None
    mime_type: str
    content: bytes

    @property
    def content_length(self) -> int:
        """Size in bytes."""
        return len(self.content)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes."""
        return hashlib.sha256(self.content).hexdigest()

    def request_fields(self) -> dict[str, Any]:
        """The ``POST /v1/upload`` body fields."""
        return {
            "source_kind": self.source_kind,
            "filename": self.filename,
            "remote_origin": self.remote_origin,
            "mime_type": self.mime_type,
            "content_length": self.content_length,
            "sha256": self.sha256,
            "bytes_base64": pybase64.b64encode_as_string(self.content),
        }


def shown_path(path: str) -> str:
    """A local path as the user typed it, quoted, for a message that stays on this machine."""
    return repr(path if len(path) <= 300 else path[:300] + "…")


def _unreadable(flag: str, path: str, exc: OSError) -> ImageSkillError:
    if isinstance(exc, FileNotFoundError):
        return invalid_arguments(f"The input file {shown_path(path)} does not exist.", field=flag)
    reason = (exc.strerror or "unreadable").lower()
    return invalid_arguments(
        f"The input file {shown_path(path)} could not be read ({reason}).", field=flag
    )


def _not_a_file(flag: str, path: str) -> ImageSkillError:
    what = "a directory" if os.path.isdir(path) else "not a regular file (a device or pipe)"
    return invalid_arguments(
        f"The input {shown_path(path)} is {what}; give an image file. Nothing was sent.",
        field=flag,
    )


def _too_large(flag: str) -> ImageSkillError:
    return invalid_arguments(
        f"The input file is larger than the upload limit of {MAX_UPLOAD_BYTES} bytes.", field=flag
    )


def _not_an_image(flag: str, what: str) -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.UPLOAD_MIME_TYPE_UNKNOWN,
        f"The {what} is not a {describe_allowed()} image (judged by its first bytes); "
        "nothing was sent.",
        details={"field": flag},
        retryable=False,
    )


def image_mime(content: bytes, *, flag: str, what: str = "input file") -> str:
    """The MIME type ``content`` starts like, or ``UPLOAD_MIME_TYPE_UNKNOWN``."""
    mime = sniff_mime(content[:SNIFF_BYTES])
    if mime is None:
        raise _not_an_image(flag, what)
    return mime


def read_local(path: str, *, flag: str = "PATH_OR_URL") -> UploadSource:
    """Read a local image file (a regular file of at most ``MAX_UPLOAD_BYTES``)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise _not_a_file(flag, path)  # refused before it is opened: opening can block
        # Non-blocking open, then fstat: a path swapped for a FIFO after the check
        # above still cannot hang the command.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        fd = os.open(path, flags)
    except OSError as exc:
        raise _unreadable(flag, path, exc) from exc
    with os.fdopen(fd, "rb") as handle:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _not_a_file(flag, path)
            if info.st_size > MAX_UPLOAD_BYTES:
                raise _too_large(flag)
            os.set_blocking(fd, True)
            head = handle.read(SNIFF_BYTES)
            mime = image_mime(head, flag=flag)
            content = head + handle.read(MAX_UPLOAD_BYTES + 1 - len(head))
        except OSError as exc:
            raise _unreadable(flag, path, exc) from exc
    if len(content) > MAX_UPLOAD_BYTES:
        raise _too_large(flag)
    return UploadSource("local_path", filename_from_path(path), None, mime, content)


def fetch_remote(
    url: str, *, timeout: float = FETCH_TIMEOUT_SECONDS, flag: str = "PATH_OR_URL"
) -> UploadSource:
    """Fetch an http(s) image on the client (redirects only to http/https).

    The whole fetch is bounded by ``timeout`` (``IMAGE_SKILL_DOWNLOAD_TIMEOUT_SECONDS``
    overrides it) -> ``TIMEOUT``; bodies over the upload limit stop streaming.
    """
    from image_skill.transport.download import deadline_seconds, fetch_url

    try:
        status, _headers, content = fetch_url(
            url, timeout=deadline_seconds(timeout), max_bytes=MAX_UPLOAD_BYTES, allow_file=False
        )
    except ImageSkillError as exc:
        if exc.code == ErrorCode.TIMEOUT:
            raise
        raise ImageSkillError(
            ErrorCode.ASSET_DOWNLOAD_FAILED,
            f"Could not fetch the input URL: {exc.message}",
            retryable=exc.retryable,
        ) from exc
    if not 200 <= status < 300:
        raise ImageSkillError(
            ErrorCode.ASSET_DOWNLOAD_FAILED,
            f"Could not fetch the input URL: its host answered HTTP {status}.",
            retryable=status >= 500 or status == 429,
        )
    if not content:
        raise ImageSkillError(
            ErrorCode.ASSET_DOWNLOAD_FAILED,
            "The input URL answered with no content.",
            retryable=False,
        )
    mime = image_mime(content, flag=flag, what="content at the input URL")
    name = filename_from_url(url)
    return UploadSource("remote_url", name, remote_origin(url), mime, content)


def read_source(reference: str, *, flag: str = "PATH_OR_URL") -> UploadSource:
    """Read a local path or fetch an http(s) URL."""
    if is_web_url(reference):
        if "@" in urlsplit(reference).netloc:
            # urllib cannot send URL credentials: refuse clearly (not as a retryable failure).
            raise invalid_arguments(
                "URLs with a user name or password are not supported; "
                "download the image and upload the local file instead.",
                field=flag,
            )
        return fetch_remote(reference, flag=flag)
    scheme = urlsplit(reference).scheme.lower()
    if "://" in reference and scheme not in ("", "file"):
        raise invalid_arguments("Only local files and http(s) URLs can be uploaded.", field=flag)
    if scheme == "file":
        from urllib.request import url2pathname

        reference = url2pathname(urlsplit(reference).path)
    return read_local(os.path.expanduser(reference), flag=flag)


def upload_source(client: Client, source: UploadSource) -> tuple[Result, str | None]:
    """``POST /v1/upload``; returns the result and the new asset id (None on failure).

    A success without ``data.asset.asset_id`` becomes ``UPLOAD_ASSET_ID_MISSING``.
    """
    result = client.upload(**source.request_fields())
    if not result.ok:
        return result, None
    data = result.data if isinstance(result.data, dict) else {}
    asset = data.get("asset") if isinstance(data.get("asset"), dict) else {}
    asset_id = asset.get("asset_id") if isinstance(asset, dict) else None
    if not isinstance(asset_id, str) or not asset_id:
        raise ImageSkillError(
            ErrorCode.UPLOAD_ASSET_ID_MISSING,
            "The upload succeeded but the service returned no asset id.",
            recovery={"suggested_command": "image-skill doctor --json"},
            retryable=False,
        )
    return result, asset_id
