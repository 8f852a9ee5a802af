"""connectFi conformance suites (seed 002 and the vendor's public pages)."""
