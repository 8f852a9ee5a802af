"""Certification bundles: a directory of files and ``manifest.json``, their SHA-256 digests,
signed with HMAC-SHA256 when a key is given.

Promises:

* :func:`write_manifest` lists every regular file under the bundle (``manifest.json`` aside) by
  its relative POSIX path and SHA-256 digest; with a key it adds ``signature``, the HMAC-SHA256
  (hex) of the canonical JSON of the manifest without the signature. The key itself is never
  written, returned or printed.
* :func:`verify_bundle` names every problem, one line each: ``changed: F`` (digest differs),
  ``removed: F`` (listed, missing), ``added: F`` (present, not listed), a manifest that is
  missing, unreadable or lists an unsafe path, a signature that does not match, a signed manifest
  checked without a key (``key_missing``), and an unsigned manifest checked with a key (its
  signature may have been stripped). A bundle verifies when there is no problem.

Without a key, digests prove only that the files match the manifest: whoever can edit the files
can rewrite the manifest too. The signature is what binds them to the key holder.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = [
    "KEY_ENV",
    "MANIFEST",
    "Verification",
    "bundle_key",
    "verify_bundle",
    "write_manifest",
]

MANIFEST = "manifest.json"
KEY_ENV = "APICERT_BUNDLE_KEY"
FORMAT = "apicert-bundle/1"
_CHUNK = 1 << 16


def bundle_key(env: dict[str, str] | None = None) -> bytes | None:
    """The signing key from ``APICERT_BUNDLE_KEY`` (UTF-8 bytes), or None when unset or empty."""
    value = (os.environ if env is None else env).get(KEY_ENV, "")
    return value.encode("utf-8") if value else None


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            sha.update(block)
    return sha.hexdigest()


def _files(root: Path) -> tuple[dict[str, Path], list[str]]:
    """Regular files under ``root`` by relative POSIX path, and anything else found (links,
    special files) as problems."""
    files: dict[str, Path] = {}
    odd: list[str] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        base = Path(folder)
        for name in list(dirs):
            if (base / name).is_symlink():
                odd.append(f"added: {(base / name).relative_to(root).as_posix()} (a link)")
                dirs.remove(name)
        for name in names:
            path = base / name
            rel = path.relative_to(root).as_posix()
            if rel == MANIFEST:
                continue
            if path.is_symlink() or not path.is_file():
                odd.append(f"added: {rel} (not a regular file)")
                continue
            files[rel] = path
    return files, odd


def _canonical(manifest: dict[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _sign(manifest: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()


def write_manifest(root: Path, key: bytes | None, info: dict[str, Any] | None = None) -> Path:
    """Write ``root/manifest.json`` over every file of the bundle; sign it when ``key`` is given.
    ``info`` (what the bundle certifies) is stored in the manifest and covered by the signature."""
    files, odd = _files(root)
    if odd:
        raise ValueError(f"{root}: {odd[0]}")
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "algorithm": "sha256",
        "info": info or {},
        "files": {rel: _digest(path) for rel, path in sorted(files.items())},
    }
    if key is not None:
        manifest["signature"] = {
            "algorithm": "hmac-sha256",
            "key_env": KEY_ENV,
            "value": _sign(manifest, key),
        }
    path = root / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


@dataclass
class Verification:
    """What :func:`verify_bundle` found; ``ok`` only when nothing is wrong."""

    files: int = 0
    signed: bool = False
    signature_checked: bool = False
    key_missing: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every digest matched and the signature (if any) was checked and matched."""
        return not self.problems and not self.key_missing


def _safe(rel: object) -> bool:
    if not isinstance(rel, str) or not rel or "\\" in rel or "\x00" in rel:
        return False
    pure = PurePosixPath(rel)
    return not pure.is_absolute() and ".." not in pure.parts and pure.as_posix() == rel


def _load(root: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"removed: {MANIFEST} (the bundle has no manifest)"
    except (OSError, UnicodeDecodeError, ValueError):
        return None, f"changed: {MANIFEST} (not readable JSON)"
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != FORMAT
        or not isinstance(files, dict)
        or not all(isinstance(v, str) for v in files.values())
    ):
        return None, f"changed: {MANIFEST} (not an {FORMAT} manifest)"
    return manifest, None


def verify_bundle(root: Path, key: bytes | None) -> Verification:
    """Check every digest of ``root/manifest.json`` and its signature (see the module
    docstring); raise FileNotFoundError when ``root`` is not a directory."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such bundle directory")
    result = Verification()
    manifest, problem = _load(root)
    if manifest is None:
        result.problems.append(str(problem))
        return result
    listed: dict[str, str] = manifest["files"]
    present, odd = _files(root)
    result.problems.extend(odd)
    result.files = len(listed)
    for rel in sorted(listed):
        if not _safe(rel):
            result.problems.append(f"changed: {MANIFEST} (lists an unsafe path {rel[:60]!r})")
        elif rel not in present:
            result.problems.append(f"removed: {rel}")
        elif not hmac.compare_digest(_digest(present[rel]), listed[rel]):
            result.problems.append(f"changed: {rel}")
    for rel in sorted(set(present) - set(listed)):
        result.problems.append(f"added: {rel}")
    signature = manifest.get("signature")
    result.signed = signature is not None
    if signature is not None:
        value = signature.get("value") if isinstance(signature, dict) else None
        if key is None:
            result.key_missing = True
        elif not isinstance(value, str) or not hmac.compare_digest(_sign(manifest, key), value):
            result.problems.append(
                f"changed: {MANIFEST} (the signature does not match: the manifest was edited, "
                f"or {KEY_ENV} is not the key it was signed with)"
            )
        else:
            result.signature_checked = True
    elif key is not None:
        result.problems.append(
            f"changed: {MANIFEST} (not signed, but {KEY_ENV} is set: the signature may have "
            "been removed)"
        )
    return result
