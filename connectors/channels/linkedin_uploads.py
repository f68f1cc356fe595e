"""The LinkedIn channel's upload journal: which image each thread has uploaded, kept on disk so a
publisher killed mid-upload resumes with the same image instead of leaving one behind.

LinkedIn's Images API uploads in two calls (initializeUpload gives an image URN and an upload URL,
then the bytes are PUT) and has no way to list an organisation's images: an image whose URN was
lost with the process that uploaded it can never be found again, and is never used. So the URN is
written here before its bytes are sent, and `upload()` on a resumed run asks LinkedIn what became
of it (`GET /rest/images/{urn}`: uploaded, or still waiting for its bytes) before starting another.
An entry is dropped once the post that uses the image is published.

One JSON file, replaced atomically on every change (a crash leaves the old or the new one, never
half of one). Entries are keyed by thread and the image's SHA-256: a different image for the same
thread starts afresh.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_JOURNAL = "var/linkedin-uploads.json"


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """An image LinkedIn gave a URN for: `uploaded` once its bytes were accepted."""

    image: str  # urn:li:image:...
    upload_url: str
    expires_at_ms: int | None
    digest: str
    uploaded: bool = False


class UploadJournal:
    """The uploads of threads not yet published, in the JSON file at `path`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"UploadJournal({str(self.path)!r})"

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable: start afresh (at worst one image is uploaded twice)
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".linkedin-uploads-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def get(self, key: str, digest: str) -> PendingUpload | None:
        """The upload recorded for `key` with this image, if any."""
        with self._lock:
            entry = self._read().get(key)
        if not entry or entry.get("digest") != digest:
            return None
        try:
            return PendingUpload(**entry)
        except TypeError:
            return None

    def put(self, key: str, upload: PendingUpload) -> None:
        with self._lock:
            data = self._read()
            data[key] = asdict(upload)
            self._write(data)

    def drop(self, key: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(key, None) is not None:
                self._write(data)
