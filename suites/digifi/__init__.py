"""DigiFi conformance suites (seed 000: api-key auth, status codes, idempotency, rate limit,
API versions)."""
