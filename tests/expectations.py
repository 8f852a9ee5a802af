"""What the self-tests expect of the clean reference sandboxes, shared by the slow tiers."""

from __future__ import annotations

# SHOULD requirements that a sandbox keeping the vendor's own promise still warns about, because a
# named standard asks for more than the vendor promises. Each is explained in its catalog entry.
EXPECTED_CLEAN_WARNINGS: dict[str, set[str]] = {"digifi": {"DIGIFI-IDEM-04"}}
