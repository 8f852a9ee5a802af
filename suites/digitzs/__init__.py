"""Digitzs conformance suites (seed 001, the Digitzs API reference)."""
