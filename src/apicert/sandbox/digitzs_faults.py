"""The faults of the Digitzs sandbox: each a documented deviation and the requirements it breaks.

The first id of ``breaks`` is the requirement the fault exists for; the rest are honest collateral
(ids from ``schemas/digitzs/requirements.yaml``).
"""

from __future__ import annotations

from apicert.sandbox.runtime import Fault

__all__ = ["FAULTS"]


def _f(name: str, breaks: str, description: str) -> Fault:
    return Fault(name, tuple(f"DIGITZS-{part}" for part in breaks.split()), description)


FAULTS: tuple[Fault, ...] = (
    _f(
        "auth-verify-no-app-id", "AUTH-01 CONTRACT-01", "GET /auth answers attributes without appId"
    ),
    _f(
        "any-api-key-accepted",
        "AUTH-02 CONTRACT-01",
        "any x-api-key is accepted (a missing one is still refused)",
    ),
    _f(
        "app-token-type-wrong",
        "AUTH-03 ENV-01 CONTRACT-01",
        'POST /auth/key and POST /auth/token answer data.type "token" instead of "auth"',
    ),
    _f("token-never-expires", "AUTH-04", "app tokens older than their lifetime are still accepted"),
    _f(
        "token-verify-lies",
        "AUTH-05",
        "GET /auth/token answers 200 for a token that was never issued",
    ),
    _f(
        "old-app-key-accepted",
        "AUTH-06",
        "POST /auth/token accepts an app key that a newer key replaced",
    ),
    _f(
        "token-not-required",
        "AUTH-07",
        "resource requests without an Authorization header are served",
    ),
    _f(
        "any-token-accepted",
        "AUTH-07",
        "resource requests with a bearer token that was never issued are served",
    ),
    _f(
        "type-singular",
        "ENV-01 CONTRACT-01",
        'resources answer a singular type ("merchant", "payment", "customer", "token")',
    ),
    _f("list-item-id-missing", "ENV-02 CONTRACT-01", "GET /merchants list entries carry no id"),
    _f(
        "items-miscounted",
        "LIST-01",
        "meta.items is the number of matching entries, not the number returned",
    ),
    _f("limit-ignored", "LIST-02 LIST-01", "lists return every matching entry whatever the limit"),
    _f("more-always-false", "LIST-03", "meta.more is always false"),
    _f(
        "list-owner-ignored",
        "LIST-04 LIST-01 MODEL-01",
        "customer, token and payment lists ignore the id= owner and list everyone's",
    ),
    _f("date-filter-ignored", "LIST-05", "GET /payments ignores start and end"),
    _f(
        "retrieve-name-changed",
        "RES-01",
        "GET /merchants/{id} and GET /customers/{id} answer the name upper-cased",
    ),
    _f(
        "unknown-id-200",
        "RES-02 CONTRACT-01",
        "GET /payments/{id} of an unknown id answers 200 with empty attributes",
    ),
    _f(
        "fee-off-by-cent",
        "MONEY-01",
        "the 2.9% is rounded down, not half up (999 gives grossMinusNet 58, net 941)",
    ),
    _f("net-off-by-cent", "MONEY-02", "card payments answer net one cent above gross - fee"),
    _f("ach-refused", "PAY-01", "ACH payments are refused with 400"),
    _f(
        "unknown-token-accepted",
        "PAY-02",
        "a token payment with a tokenId that does not exist is accepted",
    ),
    _f(
        "second-refund-refused",
        "REFUND-01 MODEL-01",
        "only one refund per original payment is accepted, even within its remainder",
    ),
    _f(
        "refund-over-remainder-accepted",
        "REFUND-02 MODEL-01",
        "refunds larger than what is left of the original are accepted",
    ),
    _f(
        "refund-unknown-original-accepted",
        "REFUND-03 MODEL-01",
        "a refund whose originalTransaction.id does not exist is accepted",
    ),
    _f("split-id-missing", "SPLIT-01 CONTRACT-01", "cardSplit answers split without a splitId"),
    _f(
        "split-over-total-accepted",
        "SPLIT-02",
        "a cardSplit whose split.amount exceeds the transaction amount is accepted",
    ),
    _f(
        "card-number-in-message",
        "MASK-01",
        "a card payment answer's transaction.message quotes the full card number",
    ),
    _f(
        "card-number-unmasked",
        "MASK-02 MASK-01 CONTRACT-01",
        "payments show the full card number",
    ),
    _f("cvv-unmasked", "MASK-02 CONTRACT-01", "payments show the CVV as sent instead of xxx"),
    _f(
        "ssn-unmasked",
        "MASK-02 MASK-01 CONTRACT-01",
        "merchant details show the full socialSecurity",
    ),
    _f("birthdate-unmasked", "MASK-02 CONTRACT-01", "merchant details show the full birthDate"),
    _f("ein-unmasked", "MASK-02 CONTRACT-01", "merchant details show the full ein"),
    _f(
        "merchant-bank-unmasked",
        "MASK-02 MASK-01 CONTRACT-01",
        "merchant details show the full bank account and routing numbers",
    ),
    _f(
        "token-card-unmasked",
        "MASK-02 MASK-01 CONTRACT-01",
        "card tokens show the full card number",
    ),
    _f(
        "token-bank-unmasked",
        "MASK-02 MASK-01 CONTRACT-01",
        "bank tokens show the full account and routing numbers",
    ),
    _f(
        "ach-bank-unmasked",
        "MASK-02 MASK-01 CONTRACT-01",
        "ACH payments show the full account and routing numbers",
    ),
    _f(
        "negative-amount-500",
        "VAL-01 CONTRACT-01",
        "POST /payments answers 500 for a negative or non-numeric amount",
    ),
    _f(
        "missing-field-500",
        "VAL-01 CONTRACT-01",
        "POST /payments answers 500 when a required member is missing",
    ),
    _f(
        "refund-remainder-per-merchant",
        "MODEL-01",
        "what is left to refund counts every refund of the merchant, not of the original",
    ),
    _f(
        "schema-drift",
        "CONTRACT-01",
        "merchant list entries give created as an epoch integer",
    ),
)
