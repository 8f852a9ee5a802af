"""apicert conformance suites, one package per vendor."""
