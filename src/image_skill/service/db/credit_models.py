"""The running balance of each account, kept by the database beside the ledger.

The ledger (``credit_ledger_entries``) stays the append-only truth; summing it
on every create made a request's cost grow with the account's age. A trigger
(migration 0010) adds every inserted ledger row to its actor's ``credit_accounts``
row in the same statement, so the running figures change in the same
transaction as the entry, whatever code (or SQL) writes it, and reading a
balance is one primary-key lookup.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from image_skill.service.db.models import Base


class CreditAccount(Base):
    """An actor's ledger, summed: spendable balance, credits held and credits debited."""

    __tablename__ = "credit_accounts"

    actor_id: Mapped[str] = mapped_column(String(64), ForeignKey("actors.id"), primary_key=True)
    # Sum of every ledger amount (what ``ledger.balance`` used to add up).
    balance: Mapped[int] = mapped_column(BigInteger)
    # Held by reservations not yet released: -(reservations + releases).
    reserved: Mapped[int] = mapped_column(BigInteger)
    # Debited for completed jobs, ever: -(debits).
    debited: Mapped[int] = mapped_column(BigInteger)
