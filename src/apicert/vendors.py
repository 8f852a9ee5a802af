"""What apicert knows about each vendor: hosts, credentials, documented rate limit.

This module holds facts from the vendor documents only; it imports nothing from the sandboxes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["VENDORS", "Credential", "Vendor", "get_vendor"]


@dataclass(frozen=True)
class Credential:
    """One credential a vendor needs, read from an environment variable for URL targets."""

    name: str
    env: str
    description: str
    secret: bool = True


@dataclass(frozen=True)
class Vendor:
    """Static facts about one vendor API, traced to its documents."""

    name: str
    title: str
    credentials: tuple[Credential, ...]
    production_hosts: frozenset[str]
    sandbox_hosts: frozenset[str] = field(default_factory=frozenset)
    rate_limit_per_second: float | None = None

    @property
    def url_env(self) -> str:
        """The environment variable that may hold this vendor's target URL."""
        return f"APICERT_{self.name.upper()}_URL"


VENDORS: dict[str, Vendor] = {
    "connectfi": Vendor(
        name="connectfi",
        title="connectFi (banking-as-a-service)",
        credentials=(
            Credential("login", "APICERT_CONNECTFI_LOGIN", "API user login", secret=False),
            Credential("password", "APICERT_CONNECTFI_PASSWORD", "API user password"),
        ),
        production_hosts=frozenset({"api.connectfi.com", "connectfi.com"}),
        sandbox_hosts=frozenset({"sandbox.connectfi.com"}),
        # connectFi documents no numeric rate limit, so the client does not pace it.
        rate_limit_per_second=None,
    ),
    "digitzs": Vendor(
        name="digitzs",
        title="Digitzs (merchant payments)",
        credentials=(
            Credential("api_key", "APICERT_DIGITZS_API_KEY", "API key (x-api-key) from onboarding"),
            Credential("app_id", "APICERT_DIGITZS_APP_ID", "application id (appId)", secret=False),
        ),
        # The seed shows only the sandbox host beta.digitzsapi.com (paths /sandbox and /dev);
        # every other digitzsapi.com host is treated as production by the guard.
        production_hosts=frozenset({"digitzsapi.com"}),
        sandbox_hosts=frozenset({"beta.digitzsapi.com"}),
        # Digitzs documents 429 but no numeric rate limit, so the client does not pace it.
        rate_limit_per_second=None,
    ),
    "digifi": Vendor(
        name="digifi",
        title="DigiFi (lending platform)",
        credentials=(
            Credential("api_key", "APICERT_DIGIFI_API_KEY", "organisation API key (api-key)"),
        ),
        # Seed 000, "Sandbox Environment": production cloud.digifi.io, sandbox sandbox.digifi.io
        # (the guard also covers subdomains such as api.cloud.digifi.io).
        production_hosts=frozenset({"cloud.digifi.io"}),
        sandbox_hosts=frozenset({"sandbox.digifi.io"}),
        # Seed 000, "Rate Limits": at most 100 requests per second per customer.
        rate_limit_per_second=100.0,
    ),
}


def get_vendor(name: str) -> Vendor:
    """Return the vendor named ``name``; raise KeyError with the known names otherwise."""
    try:
        return VENDORS[name.lower()]
    except KeyError:
        known = ", ".join(sorted(VENDORS))
        raise KeyError(f"unknown vendor {name!r}; known vendors: {known}") from None
