"""The bridge to Schemathesis: load a vendor's OpenAPI document, send generated cases through the
apicert client, and turn Schemathesis failures into findings on a contract requirement.

Schemathesis does the generating and the schema validation; apicert keeps the recording,
redaction and per-requirement verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hypothesis
import schemathesis
from schemathesis import GenerationMode

from apicert import seeding
from apicert.checks.base import fail
from apicert.checks.contract import schemathesis_expectations
from apicert.http import Client
from apicert.model import Exchange, Finding
from apicert.paths import schemas_dir
from apicert.verdict import Verdict

__all__ = [
    "as_schemathesis_check",
    "exchange_from_schemathesis",
    "failure_text",
    "is_schemathesis_failure",
    "load_openapi",
    "run_case",
]

ExchangeCheck = Callable[[Exchange], list[Finding]]


def load_openapi(
    vendor: str,
    *,
    name: str = "openapi.yaml",
    base_url: str,
    max_examples: int | None = None,
    business_refusals: tuple[int, ...] = (),
) -> Any:
    """Load ``schemas/<vendor>/<name>`` bound to ``base_url``; generate positive and negative data.

    ``business_refusals`` are statuses the vendor documents for schema-valid requests that break a
    business rule (connectFi: 400 referenceExists); Schemathesis' positive-data check accepts them.
    """
    schema = schemathesis.openapi.from_path(schemas_dir() / vendor / name)
    schema.config.update(base_url=base_url)
    current = hypothesis.settings()  # the active profile (apicert's, unless the user chose one)
    database = getattr(current.database, "path", None)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        # Same budget and example database as every other property test of the run (the
        # apicert hypothesis profile), not Schemathesis's own .hypothesis/ in the cwd.
        max_examples=max_examples or current.max_examples,
        database=str(database) if database else "none",
    )
    # Generated cases repeat with the run's seed (per test: the stream key is the test's node id).
    schema.config.seed = seeding.derive("schemathesis", seeding.current_key())
    if business_refusals:
        acceptance = schema.config.checks.positive_data_acceptance
        acceptance.expected_statuses = [*acceptance.expected_statuses, *map(str, business_refusals)]
    return schema


def as_schemathesis_check(check: ExchangeCheck) -> Callable[..., bool | None]:
    """Wrap an apicert exchange check as a Schemathesis check function (raises on a failed
    finding), so the same rule serves ``schemathesis run`` users and apicert alike."""

    def schemathesis_check(ctx: Any, response: Any, case: Any) -> bool | None:
        failed = [
            f for f in check(exchange_from_schemathesis(response)) if str(f.status) == "failed"
        ]
        if failed:
            raise AssertionError("; ".join(f"{f.requirement}: {f.message}" for f in failed))
        return None

    schemathesis_check.__name__ = f"apicert_{check.__name__}"
    return schemathesis_check


def exchange_from_schemathesis(response: Any) -> Exchange:
    """Build an :class:`Exchange` from a Schemathesis ``Response`` (for checks run inside it)."""
    request = response.request
    body = request.body
    headers = {
        k: (", ".join(v) if isinstance(v, list) else str(v))
        for k, v in dict(response.headers).items()
    }
    return Exchange(
        id="schemathesis",
        method=str(request.method or "GET"),
        url=str(request.url or ""),
        request_headers={k: str(v) for k, v in request.headers.items()},
        request_body=body.decode("utf-8", "replace") if isinstance(body, bytes) else body,
        status=int(response.status_code),
        response_headers=headers,
        response_body=response.content.decode(response.encoding or "utf-8", "replace"),
        elapsed=float(response.elapsed),
    )


def run_case(
    case: Any,
    client: Client,
    verdict: Verdict,
    requirement: str,
    *,
    headers: dict[str, str] | None = None,
) -> Exchange:
    """Send one generated case through ``client``, validate it with Schemathesis' checks, and
    record any failure as a finding on ``requirement``, ending the example so Hypothesis shrinks."""
    response = case.call(session=client.session, base_url=client.base_url, headers=headers)
    exchange = _exchange(client)
    try:
        case.validate_response(response)
    except Exception as exc:  # Schemathesis raises a FailureGroup (or one Failure)
        message = failure_text(exc)
        verdict.require(
            [
                fail(
                    requirement,
                    f"{case.operation.label}: {message}",
                    exchange,
                    expect=schemathesis_expectations(message, exchange.id),
                )
            ]
        )
    return exchange


def _exchange(client: Client) -> Exchange:
    exchange = client.recorder.last_added()
    if exchange is None:
        raise RuntimeError("Schemathesis bypassed the apicert session")
    return exchange


def is_schemathesis_failure(exc: BaseException) -> bool:
    """True for the failures Schemathesis's own checks raise (one, or a group of them)."""
    kind = type(exc)
    return kind.__module__.startswith("schemathesis.") and issubclass(
        kind, AssertionError | BaseExceptionGroup
    )


def failure_text(exc: BaseException) -> str:
    """One line per distinct Schemathesis failure: its title and the first line of detail."""
    parts: list[str] = []
    for sub in getattr(exc, "exceptions", [exc]):
        title = getattr(sub, "title", None) or sub.__class__.__name__
        detail = getattr(sub, "message", None) or str(sub)
        first = str(detail).strip().splitlines()[0] if str(detail).strip() else ""
        parts.append(f"{title}: {first}" if first else str(title))
    return "; ".join(dict.fromkeys(parts))[:500]
