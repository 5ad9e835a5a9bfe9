"""Who the customer of a conversation is, once something trustworthy said so.

An identity comes from exactly two places: a signed token from the host site (`signed`), or the
configured verification tool confirming details the customer gave (`verified`). Never from the
customer's text or the model. It is stored with the conversation and read by the tool guard.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["signed", "verified"]


class Identity(BaseModel):
    """The verified claims of a conversation's customer.

    Claims are looked up by name (`claim("email")`): the standard ones are fields, anything else
    the business adds to its token lives in `extra`.
    """

    model_config = ConfigDict(frozen=True)

    customer_id: str | None = Field(None, description="The business's customer id (JWT `sub`).")
    email: str | None = None
    name: str | None = None
    method: Method = Field(description="`signed` (host site token) or `verified` (details).")
    extra: dict[str, Any] = Field(default_factory=dict, description="Other claims, as given.")

    def claim(self, name: str) -> Any:
        """A claim's value: `customer_id`, `email`, `name` or one of `extra`; None if absent."""
        if name in ("customer_id", "email", "name"):
            return getattr(self, name)
        return self.extra.get(name)

    @property
    def label(self) -> str:
        """How operators and the UI name the customer."""
        return self.name or self.email or self.customer_id or "verified customer"
