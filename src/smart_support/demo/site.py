"""An example shop web site that embeds the chat: what `smart-support demo` serves on its own port
(8002 by default) to show embedding on a site that is not the chat server.

It plays a real shop's part: its own page and styles, a (fake) sign-in, and, for a signed-in
customer, a signed identity its *server* issues for the chat (`identity_token`, the code sample of
docs/embedding.md), handed to the one-line snippet as `data-identity`. The chat server must list
this site's origin in ALLOWED_ORIGINS (the demo does that) and share IDENTITY_SECRET with it.

Run alone: `IDENTITY_SECRET=... python -m smart_support.demo.site --port 8002 --chat-url
http://127.0.0.1:8000`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
import time
from urllib.parse import parse_qs

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from smart_support.demo.customers import DemoCustomer, demo_customers

#: How long an identity the shop signs for the chat is valid: the chat checks it when a
#: conversation starts, so it only has to outlive the page the visitor is looking at.
IDENTITY_SECONDS = 30 * 60
#: The fake sign-in's cookie (a shop's real session cookie in a real shop).
SESSION_COOKIE = "example_shop_session"


def identity_token(customer: DemoCustomer, secret: str, ttl_seconds: int = IDENTITY_SECONDS) -> str:
    """Sign who the logged-in customer is for the chat, as a shop's server does.

    The chat trusts the claims because only the shop's server and the chat know the secret
    (IDENTITY_SECRET); the browser only carries the token. `sub` is the shop's customer id,
    which the chat's tools use to look up the customer's own orders.
    """
    now = int(time.time())
    claims = {
        "sub": customer.customer_id,
        "email": customer.email,
        "name": customer.name,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


_STYLE = """
* { font-family: Georgia, "Times New Roman", serif; }
body { margin: 0; background: #fbf6ee; color: #3b2a1a; }
header { display: flex; justify-content: space-between; align-items: center; padding: 18px 32px;
  background: #3b2a1a; color: #fbf6ee; }
header a, header button { color: #fbf6ee; font-size: 15px; }
header form { display: inline; }
header button { background: none; border: 1px solid #fbf6ee; border-radius: 4px; padding: 4px 10px;
  cursor: pointer; }
.logo { font-size: 24px; font-weight: bold; letter-spacing: 0.06em; }
main { max-width: 920px; margin: 0 auto; padding: 28px 32px 120px; }
h1 { font-size: 32px; margin: 0 0 6px; }
.lead { font-size: 17px; margin: 0 0 22px; }
.products { display: grid; grid-template-columns: repeat(3, 1fr); gap: 18px; }
.product { background: #fff; border: 1px solid #e4d8c6; border-radius: 6px; padding: 16px; }
.product .swatch { height: 110px; border-radius: 4px; margin-bottom: 10px; }
.product h2 { font-size: 18px; margin: 0 0 4px; }
.price { font-weight: bold; color: #8a4b14; }
.account { background: #fff; border: 1px solid #e4d8c6; border-radius: 6px; padding: 14px 18px;
  margin: 0 0 22px; }
.people { list-style: none; padding: 0; display: grid; gap: 8px; max-width: 460px; }
.people button { width: 100%; text-align: left; padding: 10px 14px; font-size: 16px;
  cursor: pointer; background: #fff; border: 1px solid #e4d8c6; border-radius: 6px;
  color: #3b2a1a; }
.people small { display: block; color: #7a6650; font-size: 13px; }
"""

_PRODUCTS = [
    ("Harbour boots", "#6b4f3a", "$129"),
    ("Linen shirt", "#c9b79c", "$58"),
    ("Wool scarf", "#7d2e2e", "$34"),
]


def _page(title: str, body: str, header_right: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body><header><span class="logo">Harbour &amp; Co.</span><nav>{header_right}</nav></header>
<main>{body}</main></body></html>"""


class _Sessions:
    """The fake sign-in: a cookie naming the customer, with an HMAC so it cannot be edited."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def cookie(self, customer_id: str) -> str:
        mac = hmac.new(self._key, customer_id.encode(), hashlib.sha256).hexdigest()
        return f"{customer_id}.{mac}"

    def customer_id(self, cookie: str | None) -> str | None:
        customer_id, _, mac = (cookie or "").partition(".")
        expected = hmac.new(self._key, customer_id.encode(), hashlib.sha256).hexdigest()
        return customer_id if customer_id and hmac.compare_digest(mac, expected) else None


def create_app(chat_url: str, identity_secret: str) -> FastAPI:
    """The example shop site.

    Args:
        chat_url: Where the chat server is (the snippet loads `{chat_url}/embed.js`).
        identity_secret: The chat's IDENTITY_SECRET, to sign signed-in customers' identities.
    """
    app = FastAPI(title="Example shop", docs_url=None, redoc_url=None, openapi_url=None)
    sessions = _Sessions()
    customers = {c.customer_id: c for c in demo_customers()}
    chat = chat_url.rstrip("/")

    def signed_in(request: Request) -> DemoCustomer | None:
        customer_id = sessions.customer_id(request.cookies.get(SESSION_COOKIE))
        return customers.get(customer_id) if customer_id else None

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> HTMLResponse:
        customer = signed_in(request)
        products = "".join(
            f'<div class="product"><div class="swatch" style="background:{color}"></div>'
            f'<h2>{html.escape(name)}</h2><span class="price">{price}</span></div>'
            for name, color, price in _PRODUCTS
        )
        if customer is None:
            account = '<p class="account" data-testid="shop-account">You are not signed in.</p>'
            nav = '<a href="/login" data-testid="shop-sign-in">Sign in</a>'
            identity = ""
        else:
            orders = ", ".join(str(o) for o in customer.orders)
            account = (
                f'<p class="account" data-testid="shop-account">Signed in as'
                f" <strong>{html.escape(customer.name)}</strong>. Your orders: {orders}.</p>"
            )
            nav = (
                f"{html.escape(customer.name)} "
                '<form method="post" action="/logout"><button>Sign out</button></form>'
            )
            token = identity_token(customer, identity_secret)
            identity = f' data-identity="{html.escape(token)}"'
        body = (
            "<h1>Autumn collection</h1>"
            '<p class="lead">Questions about an order? The chat in the corner can help.</p>'
            f'{account}<div class="products">{products}</div>'
            # The one-line snippet, with the signed identity of a signed-in customer.
            f'<script src="{html.escape(chat)}/embed.js"{identity} async></script>'
        )
        # A signed-in customer's page carries their identity: no cache may keep it.
        return HTMLResponse(
            _page("Harbour & Co.", body, nav), headers={"Cache-Control": "no-store"}
        )

    @app.get("/login", response_class=HTMLResponse)
    async def login_page() -> str:
        people = "".join(
            f'<li><form method="post" action="/login"><input type="hidden" name="customer_id"'
            f' value="{html.escape(c.customer_id)}"><button data-testid="shop-customer"'
            f' data-email="{html.escape(c.email)}">{html.escape(c.name)}'
            f"<small>{html.escape(c.email)}</small></button></form></li>"
            for c in customers.values()
        )
        body = (
            '<h1>Sign in</h1><p class="lead">A demo shop: pick who you are (no password).</p>'
            f'<ul class="people">{people}</ul>'
        )
        return _page("Sign in", body, '<a href="/">Shop</a>')

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        customer_id = (form.get("customer_id") or [""])[0]
        if customer_id not in customers:
            return RedirectResponse("/login", status_code=303)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE, sessions.cookie(customer_id), httponly=True, samesite="lax"
        )
        return response

    @app.post("/logout")
    async def logout() -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    return app


def site_origins(host: str, port: int) -> list[str]:
    """The origins a browser gives this site's pages (both loopback names on loopback)."""
    if host in ("127.0.0.1", "localhost", "0.0.0.0"):
        return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    return [f"http://{host}:{port}"]


def main() -> None:  # pragma: no cover - run by `smart-support demo` as its own process
    import argparse

    import uvicorn

    from smart_support.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--chat-url", required=True)
    args = parser.parse_args()
    secret = load_settings().identity_secret
    if secret is None:
        raise SystemExit("error: IDENTITY_SECRET is not set (the chat's, to sign identities)")
    app = create_app(args.chat_url, secret.get_secret_value())
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":  # pragma: no cover
    main()
