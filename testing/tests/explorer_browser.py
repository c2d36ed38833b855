"""The explorer (API.md §9) in a real browser: Debian's chromium driven by
Playwright for Python, against the node `explorer.rs` started on a
populated chain.

The Rust test runs this script and carries out what it asks on stdout
(`cmd mine`, `cmd pay`, `cmd restart`), answering on stdin (`ok …`); the
script writes `done` when every check passed and exits non-zero on the
first that failed. Checks: each page's key values equal the JSON API's;
navigation block -> transaction -> spent output -> address; search by each
kind of id and by junk; the 404 and 400 pages; a new block and a new
transaction appearing on an open home page without reload; the event
stream coming back after the node restarts; the pages without JavaScript;
a phone's 390 px width. Screenshots go to $EXPLORER_SCREENSHOTS.
"""

import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request

from playwright.sync_api import sync_playwright

URL = os.environ["EXPLORER_URL"]
SHOTS = os.environ["EXPLORER_SCREENSHOTS"]
PAYMENT_BLOCK = int(os.environ.get("EXPLORER_PAYMENT_BLOCK", "6"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# API.md §9: new blocks and transactions appear within 2 s.
LIVE_SECONDS = 2.0


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    log("ok:", what)


def api(path):
    """A JSON answer, its numbers kept as written (amounts are exact text)."""
    with urllib.request.urlopen(URL + path, timeout=30) as r:
        return json.loads(r.read(), parse_float=str, parse_int=str)


def command(line):
    print("cmd " + line, flush=True)
    reply = sys.stdin.readline().strip()
    if not reply.startswith("ok"):
        raise AssertionError(f"{line}: the test answered {reply!r}")
    return reply.split()[1:]


FACTS_JS = """() => {
  const out = {};
  for (const dt of document.querySelectorAll('dl.facts dt')) {
    out[dt.textContent.trim()] = dt.nextElementSibling.textContent.replace(/\\s+/g, ' ').trim();
  }
  return out;
}"""


def facts(page):
    return page.evaluate(FACTS_JS)


def path_of(page):
    return page.url[len(URL):]


def shot(page, name, full=True):
    page.screenshot(path=os.path.join(SHOTS, name), full_page=full)
    log("screenshot", name)


def no_horizontal_scroll(page, what):
    width = page.evaluate("document.scrollingElement.scrollWidth")
    check(width <= 390, f"{what}: no horizontal scroll at 390 px (scrollWidth {width})")


def wait_for_fact(page, label, value, seconds, what):
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            if facts(page).get(label) == value:
                return time.monotonic() - start
        except Exception:  # the page's <main> is being swapped
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what}: {label} did not become {value} within {seconds} s "
                         f"(shows {facts(page).get(label)!r})")


def home_page(page):
    chain = api("/blockchain/")
    page.goto(URL + "/explorer/")
    f = facts(page)
    check(f["Height"] == chain["height"], "home: Height is /blockchain/'s")
    check(f["Best hash"] == chain["best_hash"], "home: Best hash is /blockchain/'s")
    check(f["Target"] == chain["target"], "home: Target is /blockchain/'s")
    check(f["Mempool"] == chain["mempool_size"], "home: Mempool is /blockchain/'s")
    shot(page, "home.png")


def navigation(page):
    """Block -> transaction -> the output it spends -> its address."""
    block = api(f"/blocks/{PAYMENT_BLOCK}/")
    page.goto(URL + f"/explorer/blocks/{PAYMENT_BLOCK}/")
    f = facts(page)
    check(f["Height"] == str(PAYMENT_BLOCK), "block: Height")
    check(f["Hash"] == block["hash"], "block: Hash is /blocks/{h}/'s")
    check(f["Fee"] == block["fees"], "block: Fee is /blocks/{h}/'s")
    tx_hash = block["transaction_headers"][1]["hash"]
    page.click(f"#block-transactions a[href='/explorer/transactions/{tx_hash}/']")
    page.wait_for_url(f"**/explorer/transactions/{tx_hash}/")
    tx = api(f"/blocks/{PAYMENT_BLOCK}/transactions/{tx_hash}/")
    status = api(f"/transactions/{tx_hash}/status/")
    f = facts(page)
    check(f["Fee"] == tx["fee"], "transaction: Fee is the JSON's")
    check(f["Confirmations"] == status["confirmations"], "transaction: Confirmations is /status/'s")
    shot(page, "transaction.png")
    spent = tx["inputs"][0]
    page.click("#inputs a.spends")
    page.wait_for_url(f"**/explorer/transactions/{spent['transaction_hash']}/#output-{spent['output_index']}")
    row = page.locator(f"#output-{spent['output_index']}")
    state = row.locator(".state").inner_text()
    check(state.startswith("Spent by " + tx_hash), f"spent output: its state names the spender ({state!r})")
    check(row.evaluate("r => r.matches(':target')"), "spent output: the row is the page's target")
    row.locator(f"a.spender").first.click()
    page.wait_for_url(f"**/explorer/transactions/{tx_hash}/")
    page.go_back()
    page.wait_for_url(f"**/explorer/transactions/{spent['transaction_hash']}/#output-{spent['output_index']}")
    address = spent["output_address"]
    page.locator(f"#output-{spent['output_index']} td[data-label='Address'] a").click()
    page.wait_for_url("**/explorer/addresses/**")
    info = api(f"/addresses/{address}/")
    f = facts(page)
    for label, key in [("Balance", "balance"), ("Unconfirmed balance", "unconfirmed_balance"),
                       ("Received", "received"), ("Sent", "sent")]:
        check(f[label] == info[key], f"address: {label} is /addresses/'s")
    check(f["Lowercase"] == address, "address: the lowercase form")
    history = api(f"/addresses/{address}/transactions/?limit=50")
    first = page.locator("#history tbody tr").first
    check(first.locator("td[data-label='Transaction']").inner_text() == history[0]["hash"],
          "address: the newest entry first")
    check(first.locator("td[data-label='Balance after']").inner_text() == info["balance"],
          "address: the balance after the newest entry is the balance")
    shot(page, "address.png")
    # The rich list and the mempool beside their JSON.
    chain = api("/blockchain/")
    page.goto(URL + "/explorer/rich/")
    cells = page.locator("#rich tbody tr td[data-label='Balance']").all_inner_texts()
    check(cells[:len(chain["rich_list"])] == [e["balance"] for e in chain["rich_list"]],
          "rich list: its first balances are /blockchain/'s")
    page.goto(URL + "/explorer/mempool/")
    listed = page.locator("#mempool tbody tr td[data-label='Hash']").all_inner_texts()
    pool = api("/transactions/")
    check(sorted(listed) == sorted(h["hash"] for h in pool["transaction_headers"]),
          "mempool: every mempool transaction")


def search(page):
    chain = api("/blockchain/")
    block = api(f"/blocks/{PAYMENT_BLOCK}/")
    tx_hash = block["transaction_headers"][1]["hash"]
    pool = api("/transactions/")["transaction_headers"][0]["hash"]
    address = api(f"/blocks/{PAYMENT_BLOCK}/transactions/1/")["outputs"][0]["address"]
    cases = [
        (chain["height"], f"/explorer/blocks/{chain['height']}/"),
        (block["hash"], f"/explorer/blocks/{block['hash']}/"),
        (tx_hash, f"/explorer/transactions/{tx_hash}/"),
        (pool, f"/explorer/transactions/{pool}/"),
        (address, "/explorer/addresses/"),
        (address.upper().replace("0X", "0x"), None),
    ]
    for q, where in cases:
        page.goto(URL + "/explorer/")
        page.fill("form.search input[name=q]", q)
        with page.expect_navigation():
            page.press("form.search input[name=q]", "Enter")
        if where is None:
            # All uppercase is not a valid checksummed form: nothing matched.
            check(page.locator("h1").inner_text() == "Not found", f"search {q[:12]}…: not found")
            continue
        check(path_of(page).startswith(where), f"search {q[:12]}… leads to {where}")
    response = page.goto(URL + "/explorer/search/?q=junk")
    check(response.status == 404, "search junk: 404")
    check("Nothing matched" in page.inner_text("main"), "search junk: says nothing matched")


def error_pages(page):
    response = page.goto(URL + "/explorer/blocks/" + "ab" * 32 + "/")
    check(response.status == 404, "unknown block: 404")
    check(page.locator("h1").inner_text() == "Not found", "404 page: heading")
    check(page.locator("a.brand").count() == 1, "404 page: in the explorer's layout")
    shot(page, "not-found.png")
    response = page.goto(URL + "/explorer/transactions/not-a-hash/")
    check(response.status == 400, "malformed id: 400")
    check(page.locator("h1").inner_text() == "Bad request", "400 page: heading")
    check(page.locator("form.search").count() == 1, "400 page: the search box")


def live_updates(page):
    page.goto(URL + "/explorer/")
    page.wait_for_function("document.getElementById('live').textContent === 'live'", timeout=10000)
    page.evaluate("window.__notReloaded = true")
    height, block_hash = command("mine")
    took = wait_for_fact(page, "Height", height, 10, "a new block")
    check(took <= LIVE_SECONDS, f"a new block appears within {LIVE_SECONDS} s ({took:.2f} s)")
    check(facts(page)["Best hash"] == block_hash, "the new block's hash")
    mempool = facts(page)["Mempool"]
    (tx_hash,) = command("pay")
    took = wait_for_fact(page, "Mempool", str(int(mempool) + 1), 10, "a new transaction")
    check(took <= LIVE_SECONDS, f"a new transaction appears within {LIVE_SECONDS} s ({took:.2f} s)")
    check(page.locator(f"#latest-transactions a[href='/explorer/transactions/{tx_hash}/']").count() == 1,
          "the new transaction is listed")
    check(page.evaluate("window.__notReloaded === true"), "no reload")
    # The node restarts on the same port and data directory; the open page
    # reconnects by itself and shows the next block.
    command("restart")
    page.wait_for_function("document.getElementById('live').textContent === 'live'", timeout=30000)
    height, _ = command("mine")
    took = wait_for_fact(page, "Height", height, 10, "a block after the restart")
    check(True, f"after the restart a new block appears on the open page ({took:.2f} s)")
    check(page.evaluate("window.__notReloaded === true"), "no reload across the restart")


def without_javascript(browser_args, root):
    with_js = os.path.join(root, "nojs")
    context = P.chromium.launch_persistent_context(
        with_js, executable_path="/usr/bin/chromium", headless=True, args=browser_args,
        java_script_enabled=False, viewport={"width": 1000, "height": 800})
    try:
        page = context.new_page()
        chain = api("/blockchain/")
        page.goto(URL + "/explorer/")
        f = facts(page)
        check(f["Height"] == chain["height"], "no JavaScript: the home page's Height")
        check(page.locator("#latest-blocks tbody tr").count() >= 1, "no JavaScript: the latest blocks")
        check(page.inner_text("#live") == "live updates need JavaScript", "no JavaScript: the page as served")
        block = api(f"/blocks/{PAYMENT_BLOCK}/")
        page.goto(URL + f"/explorer/blocks/{PAYMENT_BLOCK}/")
        check(facts(page)["Hash"] == block["hash"], "no JavaScript: a block page")
        page.fill("form.search input[name=q]", str(PAYMENT_BLOCK))
        page.press("form.search input[name=q]", "Enter")
        page.wait_for_url(f"**/explorer/blocks/{PAYMENT_BLOCK}/")
        check(True, "no JavaScript: search works (a plain form)")
        page.goto(URL + "/explorer/")
        shot(page, "no-javascript.png")
    finally:
        context.close()


def phone(browser_args, root):
    context = P.chromium.launch_persistent_context(
        os.path.join(root, "phone"), executable_path="/usr/bin/chromium", headless=True,
        args=browser_args, viewport={"width": 390, "height": 844}, device_scale_factor=1,
        is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        block = api(f"/blocks/{PAYMENT_BLOCK}/")
        tx_hash = block["transaction_headers"][1]["hash"]
        address = api(f"/blocks/{PAYMENT_BLOCK}/transactions/1/")["inputs"][0]["output_address"]
        for path, name in [
            ("/explorer/", "phone-home.png"),
            (f"/explorer/blocks/{PAYMENT_BLOCK}/", None),
            (f"/explorer/transactions/{tx_hash}/", "phone-transaction.png"),
            (f"/explorer/addresses/{address}/", "phone-address.png"),
            ("/explorer/mempool/", None),
            ("/explorer/rich/", None),
            ("/explorer/search/?q=nothing", None),
            ("/explorer/blocks/" + "ab" * 32 + "/", None),
            ("/explorer/addresses/0x" + "1" * 40 + "/history.csv/x", None),
        ]:
            page.goto(URL + path)
            no_horizontal_scroll(page, path)
            if name:
                shot(page, name)
    finally:
        context.close()


def main():
    global P
    root = tempfile.mkdtemp(prefix="explorer-browser-")
    with sync_playwright() as p:
        P = p
        context = p.chromium.launch_persistent_context(
            os.path.join(root, "desktop"), executable_path="/usr/bin/chromium", headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1200, "height": 900})
        try:
            page = context.new_page()
            page.set_default_timeout(15000)
            home_page(page)
            navigation(page)
            search(page)
            error_pages(page)
            live_updates(page)
        finally:
            context.close()
        without_javascript(CHROMIUM_ARGS, root)
        phone(CHROMIUM_ARGS, root)
    print("done", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - the test shows what failed
        log("FAILED:", type(e).__name__, e)
        sys.exit(1)
