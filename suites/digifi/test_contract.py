"""Contract per API version: Schemathesis generates valid and invalid requests from each
version's OpenAPI document and sends them with that api-version; every answer must match that
document (DIGIFI-VER-02)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis

from apicert.contract import load_openapi, run_case
from apicert.http import Client
from apicert.run import Run
from apicert.verdict import Verdict

# Generated cases per operation and mode: 13 operations x 2 versions, paced at 80 req/s.
EXAMPLES = 6
PHASES = ["examples", "fuzzing"]


def _schema(run: Run, version: str) -> Any:
    # 400 is documented for schema-valid bodies that name an unknown product, borrower or
    # intermediary, or an unknown nextToken: valid data answered 400 is not a contract breach.
    schema = load_openapi(
        "digifi",
        name=f"openapi-{version}.yaml",
        base_url=run.target("digifi").base_url,
        max_examples=EXAMPLES,
        business_refusals=(400,),
    )
    # DigiFi's status table has no 405: a method a path does not serve answers 404 "Resource not
    # found", so Schemathesis's 405 expectation for undeclared methods does not apply.
    schema.config.checks.update(excluded_check_names=["unsupported_method"])
    # The documents say nothing about unknown query parameters; the common practice of ignoring
    # them is no contract breach, so Schemathesis does not send any.
    schema.config.generation.update(allow_extra_parameters=False)
    schema.config.phases.update(phases=PHASES)
    return schema


@pytest.fixture
def digifi_2023_12_01(apicert_run: Run) -> Any:
    """The 2023-12-01 document bound to this run's target."""
    return _schema(apicert_run, "2023-12-01")


@pytest.fixture
def digifi_2024_02_26(apicert_run: Run) -> Any:
    """The 2024-02-26 document bound to this run's target."""
    return _schema(apicert_run, "2024-02-26")


schema_2023 = schemathesis.pytest.from_fixture("digifi_2023_12_01")
schema_2024 = schemathesis.pytest.from_fixture("digifi_2024_02_26")


def _headers(run: Run, client: Client, version: str) -> dict[str, str]:
    headers = {"api-version": version}
    run.auth("digifi")(client, headers)
    return headers


@pytest.mark.requirement("DIGIFI-VER-02")
@schema_2023.parametrize()
def test_2023_12_01_matches_its_document(
    case: Any, api: Client, verdict: Verdict, apicert_run: Run
) -> None:
    run_case(case, api, verdict, "DIGIFI-VER-02", headers=_headers(apicert_run, api, "2023-12-01"))


@pytest.mark.requirement("DIGIFI-VER-02")
@schema_2024.parametrize()
def test_2024_02_26_matches_its_document(
    case: Any, api: Client, verdict: Verdict, apicert_run: Run
) -> None:
    run_case(case, api, verdict, "DIGIFI-VER-02", headers=_headers(apicert_run, api, "2024-02-26"))
