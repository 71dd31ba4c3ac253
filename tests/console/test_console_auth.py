"""Console sign-in: passwords, the session cookie, throttling, CSRF and roles."""

from __future__ import annotations

import httpx

from console_fixture import PASSWORD, csrf_of, login
from xiaoer.console.auth import read_session, sign_session
from xiaoer.runtime import Runtime
from xiaoer.services import accounts as accounts_service


async def test_login_with_the_right_password_opens_the_dashboard(
    console: httpx.AsyncClient,
) -> None:
    r = await login(console, "boss")
    assert r.status_code == 303 and r.headers["location"] == "/console/mini/"
    cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith("xiaoer_console="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    page = await console.get("/console/mini/")
    assert page.status_code == 200 and "数据看板" in page.text and "boss" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


async def test_login_with_a_wrong_password_or_unknown_name_is_refused(
    console: httpx.AsyncClient,
) -> None:
    r = await login(console, "boss", "wrong-password")
    assert r.status_code == 401 and "账号或密码错误" in r.text
    assert "xiaoer_console=" not in r.headers.get("set-cookie", "")
    r = await login(console, "nobody")
    assert r.status_code == 401
    page = await console.get("/console/mini/")
    assert page.status_code == 303 and page.headers["location"] == "/console/login"


async def test_repeated_failures_throttle_the_name_even_with_the_right_password(
    console: httpx.AsyncClient,
) -> None:
    for _ in range(5):
        assert (await login(console, "boss", "guess-guess")).status_code == 401
    r = await login(console, "boss")
    assert r.status_code == 429
    assert (await login(console, "li")).status_code == 303  # another name is not held up


async def test_a_post_without_the_right_csrf_token_is_refused(console: httpx.AsyncClient) -> None:
    page = await console.get("/console/login")
    r = await console.post("/console/login", data={"name": "boss", "password": "right-password"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = await console.post(
        "/console/login", data={"name": "boss", "password": "right-password", "csrf": "forged"}
    )
    assert r.status_code == 403
    assert csrf_of(page.text)
    assert (await login(console, "boss")).status_code == 303
    r = await console.post("/console/logout", data={"csrf": "forged"})
    assert r.status_code == 403
    assert (await console.get("/console/mini/")).status_code == 200  # still signed in
    dash = await console.get("/console/mini/")
    r = await console.post("/console/logout", data={"csrf": csrf_of(dash.text)})
    assert r.status_code == 303
    assert (await console.get("/console/mini/")).status_code == 303


async def test_an_agent_cannot_open_owner_pages(console: httpx.AsyncClient) -> None:
    await login(console, "li")
    page = await console.get("/console/mini/")
    assert page.status_code == 200 and "/console/mini/settings" not in page.text
    r = await console.get("/console/mini/settings")
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    assert (await console.get("/console/mini/queue")).status_code == 200


async def test_an_owner_sees_settings_with_the_key_hint_only(console: httpx.AsyncClient) -> None:
    await login(console, "boss")
    r = await console.get("/console/mini/settings")
    assert r.status_code == 200 and "迷你运动店" in r.text and "li" in r.text
    usage = r.text[r.text.index('id="usage"') :]
    assert "免费版" in usage and "2000" in usage  # the shop's daily UV, far under the free tier


async def test_a_shop_the_account_may_not_see_is_not_found(console: httpx.AsyncClient) -> None:
    await login(console, "boss")
    for path in ("/", "/conversations", "/queue", "/settings", "/conversations/c1"):
        r = await console.get(f"/console/other{path}")
        assert r.status_code == 404, path
        assert "text/html" in r.headers["content-type"]
    await login(console, "far")
    assert (await console.get("/console/other/")).status_code == 200


async def test_a_forged_or_expired_session_cookie_is_refused() -> None:
    value, session = sign_session(b"k", 7, now=1000)
    assert read_session(b"k", value, now=1001) == session
    assert read_session(b"other-key", value, now=1001) is None
    payload, mac = value.rsplit(".", 1)
    assert read_session(b"k", payload + "x." + mac, now=1001) is None
    assert read_session(b"k", value, now=1000 + 13 * 3600) is None


async def test_english_switch_and_v1_errors_keep_their_json_shape(
    console: httpx.AsyncClient,
) -> None:
    page = await console.get("/console/login?lang=en")
    assert "Sign in" in page.text
    await login(console, "boss")
    assert "Dashboard" in (await console.get("/console/mini/")).text  # the cookie remembers
    r = await console.get("/v1/kpis")
    assert r.status_code == 401 and r.json()["error"]["type"]


async def test_an_account_with_two_shops_switches_between_them(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    async with runtime.sessions() as s:
        await accounts_service.add(s, "two", PASSWORD, "agent", ["mini", "other"], runtime.clock())
        await s.commit()
    assert (await login(console, "two")).headers["location"] == "/console/mini/"
    page = await console.get("/console/mini/")
    assert 'href="/console/other/"' in page.text
    assert (await console.get("/console/other/queue")).status_code == 200
