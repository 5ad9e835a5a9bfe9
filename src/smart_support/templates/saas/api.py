"""The Pulseboard API: the demo API of the `saas` template, a subscription software business.

Reads: plans, verifying a customer, their accounts, an account, its subscription, invoices,
usage, and a member's sign-in status. Writes: change the plan, change the seats, cancel the
subscription, refund an invoice, unlock a locked-out member, send a password reset; each honours
an `Idempotency-Key` header. Every account route takes `X-Customer-Id`, the verified customer
the request is made for: another customer's account or invoice then answers 404, as if it did
not exist; without it the request is the back office's (listing accounts needs it). Errors
are `{error, reason}`. State is in memory (`state.py`, seeded from `data.py`): a restart resets
it.

Run it with `smart-support api saas` (port 8003); its document is at /openapi.json, and a copy
is shipped beside it as `openapi.json`, the source the template's agents.yaml imports.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from smart_support.templates.saas.schemas import (
    ERRORS,
    WRITE,
    AccountId,
    CancelRequest,
    CustomerId,
    IdempotencyKey,
    InvoiceId,
    MemberEmail,
    PlanChange,
    RefundRequest,
    RequiredCustomerId,
    SeatChange,
    State,
)
from smart_support.templates.saas.state import PLANS, BillingState, Refusal

TITLE = "Pulseboard API"
MAX_BODY_BYTES = 16 * 1024


def create_app(*, today: date | None = None) -> FastAPI:
    """Build a Pulseboard API with fresh seeded data.

    Args:
        today: The day the refund window is measured from; UTC today by default.
    """
    app = FastAPI(
        title=TITLE,
        version="1.0.0",
        description="Pulseboard, a subscription analytics product: accounts, plans, seats, "
        "invoices and sign-in. The demo API of the Smart Support `saas` template; state is "
        "kept in memory.",
    )
    app.state.billing = BillingState(today=today)
    _install_error_handlers(app)

    @app.middleware("http")
    async def limit_body_size(request: Request, call_next: Any) -> Any:
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            return JSONResponse(
                {"error": "payload_too_large", "reason": f"bodies are limited to {MAX_BODY_BYTES}"},
                status_code=413,
            )
        return await call_next(request)

    @app.get("/health", operation_id="health", summary="Is the API up?", tags=["Status"])
    async def health(state: State) -> dict[str, str]:
        return {"status": "ok", "today": state.today.isoformat()}

    @app.get(
        "/plans",
        operation_id="list_plans",
        tags=["Billing"],
        summary="List the plans and their prices per seat, seat limits, API call and storage "
        "limits.",
    )
    async def list_plans() -> dict[str, Any]:
        return {"plans": [p.model_dump() for p in PLANS.values()]}

    @app.get(
        "/verification",
        operation_id="verify_customer",
        tags=["Accounts"],
        summary="Verify who the customer is: the email address of the account owner and the "
        "account id.",
        responses=ERRORS,
    )
    async def verify_customer(
        state: State,
        email: Annotated[str, Query(min_length=3, max_length=254, description="Owner's email.")],
        account_id: Annotated[str, Query(max_length=20, description="e.g. ACC-1001.")],
    ) -> dict[str, Any]:
        customer = state.verify(email, account_id)
        claims = {"customer_id": customer.id, "email": customer.email, "name": customer.name}
        return {"ok": True, "customer": claims}

    @app.get(
        "/accounts",
        operation_id="list_my_accounts",
        tags=["Accounts"],
        summary="List the customer's accounts with their plan and subscription status.",
    )
    async def list_accounts(state: State, customer_id: RequiredCustomerId) -> dict[str, Any]:
        mine = state.accounts_of(customer_id)
        return {
            "customer_id": customer_id,
            "accounts": [
                {
                    "account_id": a.id,
                    "name": a.name,
                    "plan": a.subscription.plan,
                    "status": a.subscription.status,
                }
                for a in mine
            ],
        }

    @app.get(
        "/accounts/{account_id}",
        operation_id="get_account",
        tags=["Accounts"],
        summary="Get an account: name, owner, plan, subscription status, seats and members.",
        responses=ERRORS,
    )
    async def get_account(
        state: State,
        account_id: AccountId,
        customer_id: CustomerId = None,
    ) -> dict[str, Any]:
        account = state.account(account_id, customer_id)
        sub = account.subscription
        return {
            "account_id": account.id,
            "name": account.name,
            "customer_id": account.customer_id,
            "owner_email": account.owner_email,
            "created_on": account.created_on,
            "plan": sub.plan,
            "status": sub.status,
            "seats": sub.seats,
            "seats_used": sub.seats_used,
            "members": [
                {"email": u.email, "role": u.role, "status": u.status} for u in account.users
            ],
        }

    @app.get(
        "/accounts/{account_id}/subscription",
        operation_id="get_subscription",
        tags=["Billing"],
        summary="Get the subscription: plan, status, billing cycle, seats paid and used, "
        "monthly price and renewal date.",
        responses=ERRORS,
    )
    async def get_subscription(
        state: State,
        account_id: AccountId,
        customer_id: CustomerId = None,
    ) -> dict[str, Any]:
        account = state.account(account_id, customer_id)
        return {
            "account_id": account.id,
            "customer_id": account.customer_id,
            "plan_name": PLANS[account.subscription.plan].name,
            **account.subscription.model_dump(mode="json"),
        }

    @app.get(
        "/accounts/{account_id}/invoices",
        operation_id="list_invoices",
        tags=["Billing"],
        summary="List an account's invoices, newest first: amount, status and payment date.",
        responses=ERRORS,
    )
    async def list_invoices(
        state: State,
        account_id: AccountId,
        customer_id: CustomerId = None,
    ) -> dict[str, Any]:
        account = state.account(account_id, customer_id)
        return {
            "account_id": account.id,
            "customer_id": account.customer_id,
            "invoices": [i.model_dump(mode="json") for i in state.invoices_of(account)],
        }

    @app.get(
        "/invoices/{invoice_id}",
        operation_id="get_invoice",
        tags=["Billing"],
        summary="Get an invoice: amount, status, payment date, refund deadline and any refund.",
        responses=ERRORS,
    )
    async def get_invoice(
        state: State,
        invoice_id: InvoiceId,
        customer_id: CustomerId = None,
    ) -> dict[str, Any]:
        invoice = state.invoice(invoice_id, customer_id)
        return {**invoice.model_dump(mode="json"), "refundable": state.refundable(invoice)}

    @app.get(
        "/accounts/{account_id}/usage",
        operation_id="get_usage",
        tags=["Usage"],
        summary="Get this month's usage against the plan's limits: API calls, storage and "
        "dashboards, and when the limits reset.",
        responses=ERRORS,
    )
    async def get_usage(
        state: State,
        account_id: AccountId,
        customer_id: CustomerId = None,
    ) -> dict[str, Any]:
        account = state.account(account_id, customer_id)
        usage = account.usage
        return {
            "account_id": account.id,
            "customer_id": account.customer_id,
            "plan": account.subscription.plan,
            **usage.model_dump(mode="json"),
            "api_calls_left": max(0, usage.api_calls_limit - usage.api_calls),
            "over_limit": usage.api_calls >= usage.api_calls_limit,
        }

    @app.get(
        "/accounts/{account_id}/members/{email}",
        operation_id="get_member_sign_in",
        tags=["Sign-in"],
        summary="Get a member's sign-in status: locked out or active, failed sign-in attempts, "
        "last sign-in, single sign-on, password reset sent.",
        responses=ERRORS,
    )
    async def get_member(
        state: State,
        account_id: AccountId,
        email: MemberEmail,
        customer_id: CustomerId = None,
    ) -> dict[str, Any]:
        account = state.account(account_id, customer_id)
        user = state.user(account, email)
        return {
            "account_id": account.id,
            "customer_id": account.customer_id,
            **user.model_dump(mode="json"),
        }

    @app.post(
        "/accounts/{account_id}/subscription/plan",
        operation_id="change_plan",
        tags=["Billing"],
        summary="Change the subscription's plan (upgrade or downgrade).",
        responses=WRITE,
    )
    async def change_plan(
        state: State,
        account_id: AccountId,
        body: PlanChange,
        customer_id: CustomerId = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        account = state.account(account_id, customer_id)
        return _answer(
            state.idempotent(
                idempotency_key,
                f"POST /accounts/{account.id}/subscription/plan",
                body.model_dump(),
                lambda: state.change_plan(account, body.plan),
            )
        )

    @app.post(
        "/accounts/{account_id}/subscription/seats",
        operation_id="change_seats",
        tags=["Billing"],
        summary="Change the number of seats the subscription pays for (add or remove seats).",
        responses=WRITE,
    )
    async def change_seats(
        state: State,
        account_id: AccountId,
        body: SeatChange,
        customer_id: CustomerId = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        account = state.account(account_id, customer_id)
        return _answer(
            state.idempotent(
                idempotency_key,
                f"POST /accounts/{account.id}/subscription/seats",
                body.model_dump(),
                lambda: state.change_seats(account, body.seats),
            )
        )

    @app.post(
        "/accounts/{account_id}/subscription/cancel",
        operation_id="cancel_subscription",
        tags=["Billing"],
        summary="Cancel the subscription at the end of the billing period.",
        responses=WRITE,
    )
    async def cancel_subscription(
        state: State,
        account_id: AccountId,
        customer_id: CustomerId = None,
        body: CancelRequest | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        account = state.account(account_id, customer_id)
        reason = body.reason if body else None
        return _answer(
            state.idempotent(
                idempotency_key,
                f"POST /accounts/{account.id}/subscription/cancel",
                {"reason": reason},
                lambda: state.cancel(account, reason),
            )
        )

    @app.post(
        "/invoices/{invoice_id}/refund",
        operation_id="refund_invoice",
        tags=["Billing"],
        summary="Refund a paid invoice, within 30 days of payment.",
        responses=WRITE,
    )
    async def refund_invoice(
        state: State,
        invoice_id: InvoiceId,
        body: RefundRequest,
        customer_id: CustomerId = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        invoice = state.invoice(invoice_id, customer_id)
        return _answer(
            state.idempotent(
                idempotency_key,
                f"POST /invoices/{invoice.id}/refund",
                body.model_dump(),
                lambda: state.refund(invoice, body.reason),
            )
        )

    @app.post(
        "/accounts/{account_id}/members/{email}/unlock",
        operation_id="unlock_member",
        tags=["Sign-in"],
        summary="Unlock a member locked out after too many failed sign-in attempts.",
        responses=WRITE,
    )
    async def unlock_member(
        state: State,
        account_id: AccountId,
        email: MemberEmail,
        customer_id: CustomerId = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        account = state.account(account_id, customer_id)
        user = state.user(account, email)
        return _answer(
            state.idempotent(
                idempotency_key,
                f"POST /accounts/{account.id}/members/{user.email}/unlock",
                {},
                lambda: state.unlock(account, user),
            )
        )

    @app.post(
        "/accounts/{account_id}/members/{email}/password-reset",
        operation_id="send_password_reset",
        tags=["Sign-in"],
        summary="Send a member a password reset link by email (forgotten password).",
        responses=WRITE,
    )
    async def send_password_reset(
        state: State,
        account_id: AccountId,
        email: MemberEmail,
        customer_id: CustomerId = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        account = state.account(account_id, customer_id)
        user = state.user(account, email)
        return _answer(
            state.idempotent(
                idempotency_key,
                f"POST /accounts/{account.id}/members/{user.email}/password-reset",
                {},
                lambda: state.password_reset(account, user),
            )
        )

    return app


def _answer(result: tuple[int, dict[str, Any], bool]) -> JSONResponse:
    status, body, replayed = result
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(_jsonable(body), status_code=status, headers=headers)


def _jsonable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in body.items()}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Refusal)
    async def refused(request: Request, exc: Refusal) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ())[1:]) or "body"
            reasons.append(f"{where}: {error.get('msg', 'invalid')}")
        return JSONResponse(
            {"error": "invalid_request", "reason": "; ".join(reasons)}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            error, reason = "not_found", f"there is no {request.url.path} in this API"
        else:
            error, reason = "http_error", str(exc.detail)
        return JSONResponse({"error": error, "reason": reason}, status_code=exc.status_code)
