"""Request bodies (seed 002): JSON for most calls, multipart/form-data for document upload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apicert import expect as x
from apicert.checks.base import fail
from apicert.checks.connectfi import success_envelope
from apicert.http import Client
from apicert.verdict import Verdict

from .conftest import data_of


@pytest.mark.requirement("CONNECTFI-BODY-01")
def test_document_upload_takes_multipart(
    connectfi: Client, verdict: Verdict, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = new_customer().get("customerId")
    generated = connectfi.post(
        "/akepa/document/generate", json={"customerId": customer_id, "documentType": "identity"}
    )
    document_id = data_of(verdict.step("CONNECTFI-PRE-03", generated, "generate a document")).get(
        "documentId"
    )
    uploaded = connectfi.post(
        f"/akepa/document/upload/{document_id}",
        files={"file": ("licence.pdf", b"%PDF-1.4 sandbox document", "application/pdf")},
    )
    content_type = uploaded.request_headers.get("Content-Type", "")
    assert content_type.startswith("multipart/form-data"), "the harness must send multipart here"
    if uploaded.status not in (200, 201):
        verdict.check(
            [
                fail(
                    "CONNECTFI-BODY-01",
                    f"multipart upload answered {uploaded.status or uploaded.error}",
                    uploaded,
                    expect=[x.status_in(uploaded.id, [200, 201])],
                )
            ]
        )
    else:
        verdict.check(success_envelope(uploaded))
