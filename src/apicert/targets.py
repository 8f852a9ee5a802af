"""Where each vendor lives for a run: the embedded reference sandbox, or a URL with credentials.

Also the production guard: a known production host is refused unless explicitly allowed.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from apicert.vendors import Vendor, get_vendor

__all__ = [
    "SetupError",
    "Target",
    "check_reachable",
    "extra_production_hosts",
    "is_production_host",
    "parse_target_specs",
    "resolve_targets",
]


class SetupError(Exception):
    """A usage or set-up problem, with a one-line message saying what is wrong and what to do."""


@dataclass
class Target:
    """One vendor's target for a run."""

    vendor: Vendor
    base_url: str = ""
    embedded: bool = True
    credentials: dict[str, str] = field(default_factory=dict)
    production: bool = False

    @property
    def host(self) -> str:
        """The target's host name (lower-case), or '' before an embedded sandbox has started."""
        return (urlsplit(self.base_url).hostname or "").lower()

    def describe(self) -> dict[str, object]:
        """Return a JSON-ready description with no secret in it."""
        return {
            "vendor": self.vendor.name,
            "base_url": self.base_url,
            "embedded": self.embedded,
            "production": self.production,
            "credentials": {
                name: ("[REDACTED]" if cred.secret else self.credentials.get(name, ""))
                for cred in self.vendor.credentials
                for name in [cred.name]
            },
        }


def parse_target_specs(specs: Iterable[str]) -> dict[str, str]:
    """Parse ``vendor=url`` strings into a mapping; raise SetupError on a malformed one."""
    out: dict[str, str] = {}
    for spec in specs:
        vendor, sep, url = spec.partition("=")
        if not sep or not vendor or not url:
            raise SetupError(
                f"--target {spec!r} is not VENDOR=URL; for example --target connectfi=http://127.0.0.1:9001"
            )
        try:
            name = get_vendor(vendor.strip()).name
        except KeyError as exc:
            raise SetupError(f"--target {spec!r}: {exc.args[0]}") from None
        parts = urlsplit(url.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise SetupError(
                f"--target {spec!r}: {url!r} is not an http(s) URL; give e.g. https://sandbox.example.com"
            )
        out[name] = url.strip().rstrip("/")
    return out


def is_production_host(vendor: Vendor, host: str, extra: frozenset[str] = frozenset()) -> bool:
    """True when ``host`` is in ``extra`` (the team's own, from ``APICERT_PRODUCTION_HOSTS``), or is
    one of ``vendor``'s production hosts or a subdomain of one and not a known sandbox host."""
    host = host.rstrip(".")
    if host in extra:
        return True
    if any(host == box or host.endswith("." + box) for box in vendor.sandbox_hosts):
        return False
    return any(host == prod or host.endswith("." + prod) for prod in vendor.production_hosts)


def extra_production_hosts(env: Mapping[str, str]) -> frozenset[str]:
    """Hosts named in ``APICERT_PRODUCTION_HOSTS`` (comma-separated): a team's own production
    endpoints (a dedicated vendor host, a proxy), guarded like the vendors' known ones."""
    raw = env.get("APICERT_PRODUCTION_HOSTS", "")
    return frozenset(h.strip().lower().rstrip(".") for h in raw.split(",") if h.strip())


def resolve_targets(
    vendors: Iterable[str],
    specs: Mapping[str, str],
    *,
    env: Mapping[str, str] | None = None,
    allow_production: bool = False,
) -> dict[str, Target]:
    """Build the target of every selected vendor.

    A vendor with a URL (from ``specs`` or ``APICERT_<VENDOR>_URL``) needs its credentials in the
    environment; a missing one is a SetupError naming the variable. A known production host is a
    SetupError unless ``allow_production``. Vendors without a URL get the embedded sandbox.
    """
    env = os.environ if env is None else env
    targets: dict[str, Target] = {}
    for name in vendors:
        vendor = get_vendor(name)
        url = specs.get(vendor.name) or env.get(vendor.url_env, "").strip().rstrip("/")
        if not url:
            targets[vendor.name] = Target(vendor=vendor)
            continue
        parse_target_specs([f"{vendor.name}={url}"])
        target = Target(vendor=vendor, base_url=url, embedded=False)
        target.production = is_production_host(vendor, target.host, extra_production_hosts(env))
        if target.production and not allow_production:
            raise SetupError(
                f"{vendor.name}: {target.host} is a production host; apicert refuses it unless "
                "--allow-production is given (and then runs read-only suites only)"
            )
        for cred in vendor.credentials:
            value = env.get(cred.env, "")
            if not value:
                raise SetupError(
                    f"{vendor.name}: missing credential: set {cred.env} ({cred.description}) "
                    f"to test {url}"
                )
            target.credentials[cred.name] = value
        targets[vendor.name] = target
    return targets


def check_reachable(url: str, timeout: float = 3.0) -> str | None:
    """Return None when a TCP connection to ``url``'s host and port succeeds, else the reason."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        return f"{host}:{port} unreachable ({reason})"
