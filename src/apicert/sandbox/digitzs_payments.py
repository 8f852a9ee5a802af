"""Digitzs sandbox payments: card, ACH, token, cardSplit, cardRefund and cardSplitRefund.

Rules (seed: Payments, Split Payments, Refunds; inferred parts marked in ``digitzs.py``):
a card payment carries the 2.9% + 30 cents pricing (:func:`digitzs_rules.fees`); a split never
exceeds the total; a refund references a payment of the same merchant and never exceeds the
original amount minus the refunds already made of it; card, CVV and bank numbers come back masked.
"""

from __future__ import annotations

import json
from sqlite3 import Connection, Row
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from apicert.sandbox import digitzs_base as base
from apicert.sandbox import digitzs_rules as rules
from apicert.sandbox.digitzs_base import fail, ok, resource
from apicert.sandbox.digitzs_rules import Invalid
from apicert.sandbox.runtime import SandboxState, dumps, iso

__all__ = ["create_payment", "get_payment", "list_payments"]

PATH = "/data/attributes"
REFUNDABLE = {"cardRefund": ("card", "token", "cardSplit"), "cardSplitRefund": ("cardSplit",)}


def _transaction(attrs: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The request's transaction: amount (as sent), currency (USD), optional invoice."""
    block = rules.obj(attrs, "transaction", PATH)
    where = f"{PATH}/transaction"
    text, cents = rules.amount(block, "amount", where)
    currency = rules.choice(block, "currency", where, ("USD",), required=False) or "USD"
    out: dict[str, Any] = {"amount": text, "currency": currency}
    invoice = rules.text(block, "invoice", where, max_len=64, required=False)
    if invoice is not None:
        out["invoice"] = invoice
    return out, cents


def _split(attrs: dict[str, Any], *, required: bool) -> tuple[dict[str, Any], int] | None:
    if not required and attrs.get("split") is None:
        return None
    block = rules.obj(attrs, "split", PATH)
    merchant = rules.required_text(block, "merchantId", f"{PATH}/split", max_len=200)
    text, cents = rules.amount(block, "amount", f"{PATH}/split")
    return {"merchantId": merchant, "amount": text}, cents


def _reference(attrs: dict[str, Any], key: str) -> str:
    block = rules.obj(attrs, key, PATH)
    return rules.required_text(block, "id", f"{PATH}/{key}", max_len=300)


def _parse(state: SandboxState, attrs: dict[str, Any]) -> dict[str, Any]:
    """The validated request: everything but the existence of the entities it names."""
    kind = rules.choice(attrs, "paymentType", PATH, rules.PAYMENT_TYPES)
    assert kind is not None
    merchant_id = rules.required_text(attrs, "merchantId", PATH, max_len=200)
    transaction, cents = _transaction(attrs)
    stored: dict[str, Any] = {"paymentType": kind, "merchantId": merchant_id}
    parsed: dict[str, Any] = {"kind": kind, "cents": cents, "stored": stored, "split": None}
    if kind in ("card", "cardSplit"):
        stored["card"] = rules.card(attrs, "card", PATH, cvv=True)
        billing = rules.address(attrs, "billingAddress", PATH, required=False)
        if billing is not None:
            stored["billingAddress"] = billing
    if kind == "ACH":
        stored["bank"] = rules.bank(attrs, "bank", PATH)
        sec = rules.choice(attrs, "StandardEntryClassCode", PATH, rules.SEC_CODES, required=False)
        stored["StandardEntryClassCode"] = sec or "WEB"
    if kind == "token":
        block = rules.obj(attrs, "token", PATH)
        stored["token"] = {
            "customerId": rules.required_text(block, "customerId", f"{PATH}/token", max_len=300),
            "tokenId": rules.required_text(block, "tokenId", f"{PATH}/token", max_len=300),
        }
    if kind in ("cardSplit", "cardSplitRefund"):
        parsed["split"] = _split(attrs, required=kind == "cardSplit")
    if kind == "cardRefund":
        stored["originalTransaction"] = {"id": _reference(attrs, "originalTransaction")}
    if kind == "cardSplitRefund":
        stored["originalSplit"] = {"id": _reference(attrs, "originalSplit")}
    stored["transaction"] = transaction
    split = parsed["split"]
    if split is not None and split[1] > cents and not state.fault("split-over-total-accepted"):
        raise Invalid(
            f"{PATH}/split/amount ({split[1]}) must not exceed the transaction amount ({cents}).",
            f"{PATH}/split/amount",
        )
    return parsed


def _exists(conn: Connection, table: str, ident: str) -> Row | None:
    row: Row | None = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (ident,)).fetchone()
    return row


def _check_token(
    state: SandboxState, conn: Connection, merchant_id: str, token: dict[str, str]
) -> None:
    customer = _exists(conn, "dz_customers", token["customerId"])
    if customer is None or customer["merchant_id"] != merchant_id:
        raise Invalid(
            f"No customer {token['customerId']!r} exists for this merchant.",
            f"{PATH}/token/customerId",
        )
    row = _exists(conn, "dz_tokens", token["tokenId"])
    if (row is None or row["customer_id"] != customer["id"]) and not state.fault(
        "unknown-token-accepted"
    ):
        raise Invalid(
            f"No token {token['tokenId']!r} exists for this customer.", f"{PATH}/token/tokenId"
        )


def _original(
    state: SandboxState, conn: Connection, parsed: dict[str, Any]
) -> tuple[Row | None, int]:
    """The payment a refund refers to and what is left of it; Invalid when it cannot be refunded."""
    kind = parsed["kind"]
    stored = parsed["stored"]
    key = "originalTransaction" if kind == "cardRefund" else "originalSplit"
    ident = stored[key]["id"]
    pointer = f"{PATH}/{key}/id"
    row: Row | None = conn.execute(
        "SELECT * FROM dz_payments WHERE id = ? OR (split_id = ? AND ? = 'cardSplitRefund')",
        (ident, ident, kind),
    ).fetchone()
    if row is None:
        if state.fault("refund-unknown-original-accepted"):
            return None, 0
        raise Invalid(f"No payment with id {ident!r} exists to refund.", pointer)
    if row["payment_type"] not in REFUNDABLE[kind]:
        allowed = " or ".join(REFUNDABLE[kind])
        raise Invalid(f"A {kind} refunds a {allowed} payment, not {row['payment_type']}.", pointer)
    if row["merchant_id"] != stored["merchantId"]:
        raise Invalid("The original payment belongs to another merchant.", pointer)
    if state.fault("refund-remainder-per-merchant"):
        sql = "SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS total, 0 AS split"
        sql += " FROM dz_payments WHERE merchant_id = ? AND original_id IS NOT NULL"
        done = conn.execute(sql, (row["merchant_id"],)).fetchone()
    else:
        sql = "SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS total,"
        sql += " COALESCE(SUM(split_amount), 0) AS split FROM dz_payments WHERE original_id = ?"
        done = conn.execute(sql, (row["id"],)).fetchone()
    if done["n"] and state.fault("second-refund-refused"):
        raise Invalid("The original payment has already been refunded.", pointer)
    left = int(row["amount"]) - int(done["total"])
    cents = parsed["cents"]
    if cents > left and not state.fault("refund-over-remainder-accepted"):
        raise Invalid(
            f"The refund ({cents}) exceeds what is left of the original payment ({left}).",
            f"{PATH}/transaction/amount",
        )
    split = parsed["split"]
    if split is not None:
        if split[0]["merchantId"] != row["split_merchant_id"]:
            raise Invalid("split.merchantId is not the original split's merchant.", pointer)
        split_left = int(row["split_amount"] or 0) - int(done["split"])
        if split[1] > split_left and not state.fault("refund-over-remainder-accepted"):
            raise Invalid(
                f"The split refund ({split[1]}) exceeds what is left of the split ({split_left}).",
                f"{PATH}/split/amount",
            )
    return row, left


def _answer_transaction(state: SandboxState, parsed: dict[str, Any]) -> dict[str, Any]:
    """The ``transaction`` block a payment answers with, as the seed shows for each type."""
    kind = parsed["kind"]
    sent = parsed["stored"]["transaction"]
    out: dict[str, Any] = {"code": "0", "message": "Success", **sent}
    if kind in ("card", "cardSplit"):
        out.update({"authCode": "A11111", "avsResult": "T"})
        if state.fault("card-number-in-message"):
            out["message"] = f"Success: card {parsed['stored']['card']['number']} approved"
    if kind == "card":
        money = rules.fees(parsed["cents"], floor=state.fault("fee-off-by-cent"))
        if state.fault("net-off-by-cent"):
            money["net"] = str(int(money["net"]) + 1)
        out.update(money)
    if kind == "cardSplit":
        out["codeResult"] = "M"
    if kind == "token":
        out.update({"authCode": None, "codeResult": "NotPresent"})
        out.update(dict.fromkeys(("gross", "net", "grossMinusNet", "fee", "rate")))
    return out


async def create_payment(state: SandboxState, request: Request) -> Response:
    """POST /payments: one of the six payment types, validated against what exists."""
    data = await base.body(request, "payments")
    parsed = _parse(state, rules.obj(data, "attributes", "/data"))
    kind = parsed["kind"]
    stored = parsed["stored"]
    merchant_id = stored["merchantId"]
    if kind == "ACH" and state.fault("ach-refused"):
        return fail(400, "ACH payments are not available for this merchant.")
    split = parsed["split"]
    with state.store.transaction() as conn:
        if _exists(conn, "dz_merchants", merchant_id) is None:
            raise Invalid(f"No merchant with id {merchant_id!r} exists.", f"{PATH}/merchantId")
        if split is not None and _exists(conn, "dz_merchants", split[0]["merchantId"]) is None:
            raise Invalid(
                f"No merchant with id {split[0]['merchantId']!r} exists.",
                f"{PATH}/split/merchantId",
            )
        if kind == "token":
            _check_token(state, conn, merchant_id, stored["token"])
        original_id = None
        if kind in REFUNDABLE:
            original, _left = _original(state, conn, parsed)
            key = "originalTransaction" if kind == "cardRefund" else "originalSplit"
            original_id = original["id"] if original is not None else stored[key]["id"]
        seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM dz_payments").fetchone()
        stamp = int(state.now())
        ident = f"{merchant_id}-{seq['n']}-{stamp}"
        split_id = None
        if split is not None and kind == "cardSplit":
            split_id = f"{merchant_id}-{seq['n']}-{stamp}-split"
            stored["split"] = {**split[0], "splitId": split_id}
        elif split is not None:
            stored["split"] = split[0]
        stored["transaction"] = _answer_transaction(state, parsed)
        conn.execute(
            "INSERT INTO dz_payments(id, merchant_id, payment_type, amount, split_id,"
            " split_merchant_id, split_amount, original_id, attributes, created)"
            " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ident,
                merchant_id,
                kind,
                parsed["cents"],
                split_id,
                split[0]["merchantId"] if split is not None else None,
                split[1] if split is not None else None,
                original_id,
                dumps(stored),
                state.now(),
            ),
        )
    answer = {k: v for k, v in stored.items() if k not in ("card", "bank", "billingAddress")}
    if "split" in answer and state.fault("split-id-missing"):
        answer["split"] = {k: v for k, v in answer["split"].items() if k != "splitId"}
    return resource(state, "payments", ident, answer)


def _view(state: SandboxState, row: Row) -> dict[str, Any]:
    attrs: dict[str, Any] = json.loads(row["attributes"])
    card = attrs.get("card")
    if card is not None:
        if not state.fault("card-number-unmasked"):
            card["number"] = rules.mask(card["number"])
        if not state.fault("cvv-unmasked"):
            card["code"] = "xxx"
    bank = attrs.get("bank")
    if bank is not None and not state.fault("ach-bank-unmasked"):
        bank["accountNumber"] = rules.mask(bank["accountNumber"])
        bank["routingNumber"] = rules.mask(bank["routingNumber"])
    if "split" in attrs and state.fault("split-id-missing"):
        attrs["split"].pop("splitId", None)
    attrs["created"] = iso(row["created"])
    return attrs


async def get_payment(state: SandboxState, request: Request) -> Response:
    """GET /payments/{id}: the payment with card, CVV and bank numbers masked."""
    ident = request.path_params["id"]
    row = state.store.one("SELECT * FROM dz_payments WHERE id = ?", (ident,))
    if row is None:
        if state.fault("unknown-id-200"):
            return ok(
                {
                    "data": {
                        "type": base.collection_type(state, "payments"),
                        "id": ident,
                        "attributes": {},
                    }
                }
            )
        return fail(404, f"No payment with id {ident!r} exists.")
    return resource(state, "payments", ident, _view(state, row))


async def list_payments(state: SandboxState, request: Request) -> Response:
    """GET /payments?id={merchantId}&limit=&start=&end=: the merchant's payments, newest first."""
    merchant_id = base.owner(state, request, "dz_merchants", "merchant")
    start = rules.day_bounds(request.query_params.get("start"), "start", end=False)
    end = rules.day_bounds(request.query_params.get("end"), "end", end=True)
    if start is not None and end is not None and start >= end:
        raise Invalid("start must not be after end.")
    clauses: list[str] = []
    params: list[Any] = []
    if not state.fault("list-owner-ignored"):
        clauses.append("merchant_id = ?")
        params.append(merchant_id)
    if not state.fault("date-filter-ignored"):
        if start is not None:
            clauses.append("created >= ?")
            params.append(start)
        if end is not None:
            clauses.append("created < ?")
            params.append(end)
    sql = "SELECT * FROM dz_payments"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return base.owned_listing(
        state, request, sql, tuple(params), "payments", lambda r: _view(state, r)
    )
