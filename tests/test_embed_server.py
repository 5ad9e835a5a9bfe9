"""Embedding the chat in another site, the server's side: which pages other sites may frame, the
snippet's script, the allowed origins the embedded chat listens to, the example shop site that
signs its customers' identities, and the demo command that starts it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import httpx
import jwt
import pytest

from chat_client import ServerFactory
from smart_support.demo.customers import demo_customers
from smart_support.demo.launcher import demo_settings
from smart_support.demo.site import SESSION_COOKIE, create_app, identity_token, site_origins
from smart_support.identity import verify_identity_token
from smart_support.server.app import frameable_csp
from smart_support.settings import Settings

pytest_plugins = ["server_fixture"]

ROOT = Path(__file__).resolve().parents[1]
SECRET = "embed-server-test-secret-0123456789abcdef"
SHOP = "https://shop.example"


def frame_ancestors(response: httpx.Response) -> str:
    policy = response.headers["content-security-policy"]
    found = re.search(r"frame-ancestors ([^;]*)", policy)
    assert found, policy
    return found.group(1).strip()


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    """A built UI: an app page and the snippet's script from web/public."""
    (tmp_path / "index.html").write_text("<!doctype html><title>chat</title>", encoding="utf-8")
    shutil.copy(ROOT / "web" / "public" / "embed.js", tmp_path / "embed.js")
    return tmp_path


def test_only_the_app_page_may_be_framed_and_only_by_the_allowed_origins(
    start_server: ServerFactory, static_dir: Path
) -> None:
    with start_server(
        allowed_origins=[SHOP, "http://127.0.0.1:8002/"], app_options={"static_dir": static_dir}
    ) as url:
        page = httpx.get(f"{url}/")
        page_by_name = httpx.get(f"{url}/index.html")
        embedded = httpx.get(f"{url}/", params={"embed": "1"})
        others = [httpx.get(f"{url}{path}") for path in ("/embed.js", "/api/v1/info", "/healthz")]

    expected = f"'self' {SHOP} http://127.0.0.1:8002"
    assert frame_ancestors(page) == frame_ancestors(page_by_name) == expected
    assert frame_ancestors(embedded) == expected
    assert "x-frame-options" not in page.headers
    for response in others:
        assert response.status_code == 200, response.url
        assert frame_ancestors(response) == "'none'", response.url


def test_without_allowed_origins_the_app_page_is_framed_by_its_own_server_only(
    start_server: ServerFactory, static_dir: Path
) -> None:
    with start_server(app_options={"static_dir": static_dir}) as url:
        assert frame_ancestors(httpx.get(f"{url}/")) == "'self'"


@pytest.mark.parametrize(
    "entry",
    ["*", "https://a.example; script-src *", "https://a.example/path", "javascript:x", "'none'"],
)
def test_an_allowed_origin_that_is_not_a_bare_origin_cannot_widen_the_policy(entry: str) -> None:
    policy = frameable_csp([entry, SHOP])
    assert policy.endswith(f"frame-ancestors 'self' {SHOP}")
    assert policy.count(";") == frameable_csp([]).count(";")


def test_the_snippets_script_is_served_as_javascript_and_knows_the_chats_address(
    start_server: ServerFactory, static_dir: Path
) -> None:
    with start_server(app_options={"static_dir": static_dir}) as url:
        script = httpx.get(f"{url}/embed.js")

    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-content-type-options"] == "nosniff"
    # It frames the chat at the address it was loaded from, and hands identities to that origin.
    assert "document.currentScript" in script.text and "/?embed=1" in script.text
    assert 'postMessage({ type: "smart-support:identity"' in script.text
    assert '"*"' not in script.text  # never posts to any origin


def test_the_info_lists_the_origins_the_embedded_chat_listens_to(
    start_server: ServerFactory,
) -> None:
    with start_server(allowed_origins=[f"{SHOP}/", "http://localhost:8002"]) as url:
        info = httpx.get(f"{url}/api/v1/info").json()
    assert info["allowed_origins"] == [SHOP, "http://localhost:8002"]


def chat_settings() -> Settings:
    return Settings(_env_file=None, identity_secret=SECRET)


def test_the_example_shops_token_is_one_the_chat_accepts_for_that_customer() -> None:
    maya = demo_customers()[0]
    identity = verify_identity_token(identity_token(maya, SECRET), chat_settings())
    assert (identity.customer_id, identity.email, identity.name) == (
        maya.customer_id,
        maya.email,
        "Maya Chen",
    )
    claims = jwt.decode(identity_token(maya, SECRET), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] <= chat_settings().identity_max_ttl_seconds


async def test_the_example_shop_signs_in_a_customer_and_hands_the_snippet_their_identity() -> None:
    site = create_app("http://127.0.0.1:8000", SECRET)
    transport = httpx.ASGITransport(app=site)
    base = "http://127.0.0.1:8002"
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        anonymous = await client.get("/")
        signed_in = await client.post("/login", content="customer_id=1")
        home = await client.get("/")
        logged_out = await client.post("/logout")
        after = await client.get("/")
    edited = {SESSION_COOKIE: "3." + "0" * 64}
    async with httpx.AsyncClient(transport=transport, base_url=base, cookies=edited) as client:
        forged = await client.get("/")

    snippet = '<script src="http://127.0.0.1:8000/embed.js"'
    assert snippet in anonymous.text and "data-identity" not in anonymous.text
    assert signed_in.status_code == 303
    token = re.search(r'data-identity="([^"]+)"', home.text)
    assert token, home.text
    assert verify_identity_token(token.group(1), chat_settings()).email == "maya.chen@example.com"
    assert "data-identity" not in forged.text  # an edited cookie signs nobody in
    assert logged_out.status_code == 303 and "data-identity" not in after.text


def test_the_demo_allows_the_example_sites_origins_and_keeps_the_operators() -> None:
    settings = Settings(_env_file=None, allowed_origins=[SHOP])
    demo = demo_settings(settings, site_port=8102)
    assert demo.allowed_origins == [SHOP, "http://127.0.0.1:8102", "http://localhost:8102"]
    assert demo_settings(settings).allowed_origins == [SHOP]  # no site, nothing added
    assert site_origins("127.0.0.1", 8002) == ["http://127.0.0.1:8002", "http://localhost:8002"]


def test_the_signing_sample_in_the_embedding_docs_makes_a_token_the_chat_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = (ROOT / "docs" / "embedding.md").read_text(encoding="utf-8")
    samples = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    assert len(samples) == 1
    monkeypatch.setenv("IDENTITY_SECRET", SECRET)
    namespace: dict[str, object] = {}
    exec(compile(samples[0], "docs/embedding.md", "exec"), namespace)
    customer = SimpleNamespace(id=1, email="maya.chen@example.com", name="Maya Chen")
    token = namespace["chat_identity"](customer)  # type: ignore[operator]
    identity = verify_identity_token(token, chat_settings())
    assert (identity.customer_id, identity.name) == ("1", "Maya Chen")
