"""App tokens kept between runs, so a target without clock control can still show that a token
more than an hour old is refused (seed 001: "Tokens expire after one hour").

The file lives in the user's cache directory (never under reports/), is readable by the user
only, and holds tokens keyed by target URL and a digest of the API key, each with the time it
was created. Tokens are secrets: nothing here prints them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

__all__ = ["TokenShelf"]


def _default_path() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "apicert" / "digitzs-tokens.json"


class TokenShelf:
    """Saved app tokens of one target (base URL + API key)."""

    def __init__(self, base_url: str, api_key: str, path: Path | None = None) -> None:
        digest = hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]
        self.key = f"{base_url.rstrip('/')}#{digest}"
        self.path = path or _default_path()

    def _load(self) -> dict[str, list[dict[str, object]]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return raw if isinstance(raw, dict) else {}

    def save(self, token: str, created: float | None = None) -> None:
        """Keep ``token`` with its creation time (now when not given); at most 5 per target."""
        shelf = self._load()
        entries = [e for e in shelf.get(self.key, []) if isinstance(e, dict)]
        entries.append({"token": token, "created": time.time() if created is None else created})
        shelf[self.key] = entries[-5:]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(shelf, handle)
        tmp.replace(self.path)

    def older_than(self, seconds: float, now: float | None = None) -> tuple[str, float] | None:
        """The most recent saved token created more than ``seconds`` ago, with its age."""
        moment = time.time() if now is None else now
        best: tuple[str, float] | None = None
        for entry in self._load().get(self.key, []):
            token, created = entry.get("token"), entry.get("created")
            if not isinstance(token, str) or not isinstance(created, int | float):
                continue
            age = moment - float(created)
            if age > seconds and (best is None or age < best[1]):
                best = (token, age)
        return best
