"""Model-based test (seed 001: merchants, customers, tokens, payments, refunds).

A Hypothesis state machine makes random sequences of calls, keeps its own model of what must
exist and how much of each payment is left to refund, and compares the API with the model after
every step. Only documented behaviour is modelled (no fees, names or ACH: other suites own those).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from apicert import expect as x
from apicert.checks.base import fail
from apicert.http import Client
from apicert.model import Exchange
from apicert.verdict import Verdict

from . import payloads
from .conftest import data_of, listed_ids

MODEL_01 = "DIGITZS-MODEL-01"
# At least 200 sequences in a default run, each a few steps long (about 10 s on the sandbox).
SEQUENCES = 200
STEPS = 5


class Disagreement(AssertionError):
    """The API and the model disagree; ``exchange`` is the evidence."""

    def __init__(
        self, message: str, exchange: Exchange, expect: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.exchange = exchange
        self.expect = list(expect or [])


@dataclass
class Payment:
    """A payment the model knows: its merchant, amount and what is left to refund."""

    merchant: str
    amount: int
    left: int
    refunds: list[str] = field(default_factory=list)


def machine_for(client: Client) -> type[RuleBasedStateMachine]:
    """The state machine class bound to ``client``."""

    class DigitzsModel(RuleBasedStateMachine):
        merchants = Bundle("merchants")
        customers = Bundle("customers")
        tokens = Bundle("tokens")
        payments = Bundle("payments")

        def __init__(self) -> None:
            super().__init__()
            self.owner: dict[str, str] = {}  # customer -> merchant, token -> customer
            self.known: dict[str, Payment] = {}
            self.by_merchant: dict[str, set[str]] = {}
            self.touched: str | None = None  # the merchant whose payments the last step changed

        def _expect(self, exchange: Exchange, ok: bool, what: str) -> dict[str, Any]:
            accepted = exchange.status == 200
            if accepted != ok:
                wanted = "accepted" if ok else "refused"
                promise = (
                    x.status_in(exchange.id, [200])
                    if ok
                    else x.compare(x.operand(exchange.id, status=True), "ne", x.operand(value=200))
                )
                raise Disagreement(
                    f"{what}: model says {wanted}, API answered {exchange.status}",
                    exchange,
                    [promise],
                )
            if ok and not isinstance(data_of(exchange).get("id"), str):
                raise Disagreement(
                    f"{what}: accepted without an id",
                    exchange,
                    [x.json_type(exchange.id, ["data", "id"], "string")],
                )
            return data_of(exchange)

        def _exists(self, path: str) -> None:
            got = client.get(path)
            if got.status != 200:
                raise Disagreement(
                    f"GET {path.split('/')[1]}: created, but answered {got.status}",
                    got,
                    [x.status_in(got.id, [200])],
                )

        def _paid(self, merchant: str, exchange: Exchange, amount: int) -> str:
            ident = str(self._expect(exchange, True, "payment")["id"])
            self.known[ident] = Payment(merchant, amount, amount)
            self.by_merchant.setdefault(merchant, set()).add(ident)
            self.touched = merchant
            return ident

        def _new_merchant(self) -> str:
            made = client.post("/merchants", json=payloads.merchant())
            ident = str(self._expect(made, True, "merchant")["id"])
            self.by_merchant[ident] = set()
            return ident

        @initialize(target=merchants)
        def first_merchant(self) -> str:
            return self._new_merchant()

        @initialize(
            target=payments, amounts=st.lists(st.integers(100, 1000), min_size=2, max_size=2)
        )
        def opening_payments(self, amounts: list[int]) -> MultipleResults[str]:
            # Every sequence starts from a merchant with two card payments, 90 % of each already
            # refunded: a remainder shared between payments by mistake shows up at once, and
            # later refunds of them probe the small remainder.
            merchant = next(iter(self.by_merchant)) if self.by_merchant else self._new_merchant()
            made = [
                self._paid(
                    merchant, client.post("/payments", json=payloads.card_payment(merchant, a)), a
                )
                for a in amounts
            ]
            for payment in made:
                self._refund(payment, self.known[payment].amount * 9 // 10)
            return multiple(*made)

        @precondition(lambda self: len(self.by_merchant) < 2)
        @rule(target=merchants)
        def merchant(self) -> str:
            return self._new_merchant()

        @rule(target=customers, merchant=merchants)
        def customer(self, merchant: str) -> str:
            made = client.post("/customers", json=payloads.customer(merchant))
            ident = str(self._expect(made, True, "customer")["id"])
            self.owner[ident] = merchant
            self._exists(f"/customers/{ident}")
            return ident

        @rule()
        def customer_of_unknown_merchant(self) -> None:
            made = client.post("/customers", json=payloads.customer("apicert-no-such-merchant"))
            self._expect(made, False, "customer of an unknown merchant")

        @rule(target=tokens, customer=customers)
        def token(self, customer: str) -> str:
            made = client.post("/tokens", json=payloads.card_token(customer))
            ident = str(self._expect(made, True, "card token")["id"])
            self.owner[ident] = customer
            self._exists(f"/tokens/{ident}")
            return ident

        @rule(target=payments, merchant=merchants, amount=st.integers(100, 1000))
        def card(self, merchant: str, amount: int) -> str:
            paid = client.post("/payments", json=payloads.card_payment(merchant, amount))
            return self._paid(merchant, paid, amount)

        @rule(target=payments, token=tokens, amount=st.integers(100, 1000))
        def with_token(self, token: str, amount: int) -> str:
            customer = self.owner[token]
            merchant = self.owner[customer]
            body = payloads.token_payment(merchant, customer, token, amount)
            return self._paid(merchant, client.post("/payments", json=body), amount)

        def _refund(self, payment: str, amount: int) -> None:
            known = self.known[payment]
            done = client.post("/payments", json=payloads.refund(known.merchant, payment, amount))
            data = self._expect(done, amount <= known.left, f"refund {amount} of {known.left} left")
            if done.status == 200:
                known.left -= amount
                self.by_merchant[known.merchant].add(str(data["id"]))
            self.touched = known.merchant

        @rule(payment=payments, share=st.integers(1, 120))
        def refund(self, payment: str, share: int) -> None:
            # A share of the original (up to 120 %), so repeated and over-refunds both happen.
            self._refund(payment, max(1, self.known[payment].amount * share // 100))

        @rule(merchant=merchants)
        def refund_unknown(self, merchant: str) -> None:
            done = client.post("/payments", json=payloads.refund(merchant, "apicert-nothing", 1))
            self._expect(done, False, "refund of an unknown payment")

        @invariant()
        def payments_listed_as_modelled(self) -> None:
            merchant, self.touched = self.touched, None
            if merchant is not None:
                expected = self.by_merchant[merchant]
                listed = client.get(f"/payments?id={merchant}&limit=100")
                seen = listed_ids(listed)
                if seen is not None and seen != expected:
                    count = x.compare(
                        x.operand(listed.id, ["data"], length=True),
                        "eq",
                        x.operand(value=len(expected)),
                    )
                    raise Disagreement(
                        f"merchant lists {len(seen)} payments, the model knows {len(expected)}",
                        listed,
                        [count],
                    )

    return DigitzsModel


@pytest.mark.requirement(MODEL_01)
def test_api_agrees_with_the_model(digitzs: Client, verdict: Verdict) -> None:
    options = settings(
        settings(),  # the run's profile: its example database under the report directory
        max_examples=SEQUENCES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        # No shrinking: each step is a real request, and the first disagreement's exchange is
        # the evidence the report needs; shrinking a long sequence costs minutes.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    try:
        run_state_machine_as_test(machine_for(digitzs), settings=options)
    except Disagreement as exc:
        verdict.require([fail(MODEL_01, str(exc), exc.exchange, expect=exc.expect)])
