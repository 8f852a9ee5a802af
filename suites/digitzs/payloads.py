"""Request bodies for Digitzs, valid by the formats the seed documents. Card, SSN, EIN, account and
routing numbers are fresh sandbox data per call (from the run's seed), still masked in every
artifact."""

from __future__ import annotations

from typing import Any

from apicert import seeding
from apicert.strategies import BRAND_PREFIXES, aba_checksum_ok, luhn_check_digit

ADDRESS = {
    "line1": "21 Jump Street",
    "line2": "Suite 007",
    "city": "Los Angeles",
    "state": "CA",
    "zip": "90210",
    "country": "USA",
}
EXPIRY = "1230"


def _digits(count: int) -> str:
    return "".join(str(seeding.randbelow(10)) for _ in range(count))


def card_number(brand: str = "visa") -> str:
    """A fresh Luhn-valid card number of ``brand``."""
    prefixes, length = BRAND_PREFIXES[brand]
    prefix = prefixes[seeding.randbelow(len(prefixes))]
    partial = prefix + _digits(length - len(prefix) - 1)
    return partial + luhn_check_digit(partial)


def routing_number() -> str:
    """A fresh nine-digit ABA routing number whose checksum holds."""
    partial = "0" + _digits(7)
    return partial + next(d for d in "0123456789" if aba_checksum_ok(partial + d))


def ssn() -> str:
    """A fresh SSN-shaped nine-digit number."""
    area, group = seeding.randbelow(799) + 100, seeding.randbelow(98) + 1
    return f"{area:03d}{group:02d}{seeding.randbelow(9998) + 1:04d}"


def account_number() -> str:
    """A fresh ten-digit bank account number."""
    return str(seeding.randbelow(9) + 1) + _digits(9)


def name(prefix: str = "Shop") -> str:
    """A fresh display name."""
    return f"{prefix} {seeding.unique_hex(4)}"


def _data(kind: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"type": kind, "attributes": attributes}}


def merchant(**overrides: Any) -> dict[str, Any]:
    """A valid POST /merchants body (business account) with fresh identity and bank numbers."""
    account = overrides.pop("accountName", name())
    attributes: dict[str, Any] = {
        "accountType": "business",
        "accountName": account,
        "personalInfo": {
            "firstName": "Susan",
            "lastName": "Smith",
            "email": "susan@example.com",
            "dayPhone": "3105551222",
            "eveningPhone": "3105551222",
            "birthDate": "11-23-1981",
            "socialSecurity": overrides.pop("socialSecurity", ssn()),
        },
        "personalAddress": dict(ADDRESS),
        "businessInfo": {"businessName": account, "ein": overrides.pop("ein", ssn())},
        "businessAddress": dict(ADDRESS),
        "bankInfo": {
            "bankName": "Bank of Abundance",
            "accountOwnership": "business",
            "accountType": "checking",
            "accountName": account,
            "accountNumber": overrides.pop("accountNumber", account_number()),
            "routingNumber": overrides.pop("routingNumber", routing_number()),
        },
        "verificationData": {
            "ipAddress": "192.168.0.1",
            "emailVerified": True,
            "emailVerifiedTimestamp": "2019-01-31T11:16:07.234Z",
            "signature": "Susan Smith",
            "signatureTimestamp": "2019-01-31T11:16:07.234Z",
            "termsAccepted": True,
        },
    }
    attributes.update(overrides)
    return _data("merchants", attributes)


def customer(merchant_id: str, customer_name: str | None = None) -> dict[str, Any]:
    """A valid POST /customers body."""
    return _data(
        "customers",
        {
            "merchantId": merchant_id,
            "name": customer_name or name("Customer"),
            "externalId": seeding.unique_hex(6),
        },
    )


def card_token(customer_id: str, number: str | None = None) -> dict[str, Any]:
    """A valid POST /tokens body for a card."""
    return _data(
        "tokens",
        {
            "tokenType": "card",
            "customerId": customer_id,
            "label": "Visa",
            "card": {
                "type": "visa",
                "holder": "Jane Doe",
                "number": number or card_number(),
                "expiry": EXPIRY,
            },
            "billingAddress": dict(ADDRESS),
        },
    )


def bank(account: str | None = None, routing: str | None = None) -> dict[str, Any]:
    """A bank block (checking account)."""
    return {
        "accountType": "checking",
        "accountName": "MegaCorp",
        "accountNumber": account or account_number(),
        "routingNumber": routing or routing_number(),
    }


def bank_token(customer_id: str) -> dict[str, Any]:
    """A valid POST /tokens body for a bank account."""
    return _data(
        "tokens",
        {
            "tokenType": "bank",
            "customerId": customer_id,
            "label": "Checking",
            "StandardEntryClassCode": "WEB",
            "bank": {**bank(), "country": "USA"},
        },
    )


def _transaction(amount: int | str) -> dict[str, str]:
    return {"amount": str(amount), "currency": "USD", "invoice": seeding.token_hex(4)}


def card_payment(merchant_id: str, amount: int | str, number: str | None = None) -> dict[str, Any]:
    """A valid card payment of ``amount`` cents."""
    return _data(
        "payments",
        {
            "paymentType": "card",
            "merchantId": merchant_id,
            "card": {
                "holder": "Jane Doe",
                "number": number or card_number(),
                "expiry": EXPIRY,
                "code": "999",
            },
            "transaction": _transaction(amount),
            "billingAddress": dict(ADDRESS),
        },
    )


def split_payment(
    merchant_id: str, split_merchant_id: str, amount: int, split_amount: int
) -> dict[str, Any]:
    """A cardSplit payment sending ``split_amount`` of ``amount`` to a second merchant."""
    body = card_payment(merchant_id, amount)
    body["data"]["attributes"]["paymentType"] = "cardSplit"
    body["data"]["attributes"]["split"] = {
        "merchantId": split_merchant_id,
        "amount": str(split_amount),
    }
    return body


def ach_payment(merchant_id: str, amount: int, account: str | None = None) -> dict[str, Any]:
    """A valid ACH payment from a checking account."""
    return _data(
        "payments",
        {
            "paymentType": "ACH",
            "merchantId": merchant_id,
            "StandardEntryClassCode": "WEB",
            "bank": bank(account),
            "transaction": _transaction(amount),
        },
    )


def token_payment(merchant_id: str, customer_id: str, token_id: str, amount: int) -> dict[str, Any]:
    """A payment with a stored token."""
    return _data(
        "payments",
        {
            "paymentType": "token",
            "merchantId": merchant_id,
            "token": {"customerId": customer_id, "tokenId": token_id},
            "transaction": _transaction(amount),
        },
    )


def refund(merchant_id: str, original_id: str, amount: int) -> dict[str, Any]:
    """A cardRefund of ``amount`` cents of the payment ``original_id``."""
    return _data(
        "payments",
        {
            "paymentType": "cardRefund",
            "merchantId": merchant_id,
            "transaction": _transaction(amount),
            "originalTransaction": {"id": original_id},
        },
    )
