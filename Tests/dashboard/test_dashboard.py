#!/usr/bin/env python3
"""The dashboard in a real browser: Debian's headless Chromium driven by Selenium.

    test_dashboard.py TOKENPOOL_BINARY [SCREENSHOT.png]

Starts a redis-server and a tokenpool with an admin key on free ports, makes two pools through the
API (one token's metadata is a <script>), then in the browser: the page loads with no request
leaving the server, asks for the key, shows both pools once it has it; the pool's page shows an
assign made through the API within 2 s, its generate button adds tokens (checked through the API),
the metadata is shown as text and never run; a screenshot is saved.
"""
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tokenpool_testing import Checks, redis_server, tokenpool_server

ADMIN = "dashboard-admin-key"
checks = Checks("dashboard")
check = checks.check



def api(base, method, path, body=None, key=ADMIN):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        return error.code, None


def until(condition, seconds):
    """Polls `condition` until it is true or `seconds` pass; returns how long it took, or None."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if condition():
                return time.monotonic() - started
        except Exception:  # the page may be re-rendering the element asked for
            pass
        time.sleep(0.05)
    return None


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                     # Nothing of Chromium's own phoning home either: only the page's requests are left to see.
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def requested_urls(driver):
    """Every URL the page asked for and the browser sent: not those the page's CSP blocked before sending."""
    urls, blocked = {}, set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls[message["params"]["requestId"]] = message["params"]["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and message["params"].get("blockedReason"):
            blocked.add(message["params"]["requestId"])
    return [url for request, url in urls.items() if request not in blocked and not url.startswith(("data:", "blob:"))]


def main():
    binary = sys.argv[1]
    screenshot = sys.argv[2] if len(sys.argv) > 2 else None
    # A folder of Swagger UI's and ReDoc's files: /docs and /redoc are then checked offline too.
    assets = sys.argv[3] if len(sys.argv) > 3 else None
    args = ["--admin-key", ADMIN] + (["--docs-assets", assets] if assets else [])
    with redis_server() as redis, tokenpool_server(binary, redis.url, args=args) as server:
        base = server.base
        driver = None
        try:
            api(base, "POST", "/pools/proxies/tokens/batch", {"metadata": [
                {"proxy": "10.0.0.7:3128", "note": "<script>window.pwned = 1</script><img src=x onerror=window.pwned=2>"},
                {"proxy": "10.0.0.8:3128"}, {"proxy": "10.0.0.9:3128"}, None, None, None]})
            api(base, "POST", "/pools/accounts/tokens/batch", {"count": 4, "metadata": {"account": "qa"}})
            api(base, "POST", "/pools/accounts/tokens/assign", {"holder": "nightly-e2e"})
            # More pools than a browser opens connections to one server (six): the pools view must not hold one each.
            for index in range(8):
                api(base, "POST", f"/pools/extra-{index}/tokens/batch", {"count": 1})

            driver = browser()
            driver.get(base + "/dashboard")
            check("TokenPool" in driver.title, "the page loads without a key")
            check(until(lambda: "Key needed" in driver.find_element(By.ID, "error").text, 5) is not None,
                  "without the key it asks for one and shows no data")
            driver.find_element(By.ID, "key").send_keys(ADMIN)
            driver.find_element(By.ID, "save-key").click()
            took = until(lambda: {"proxies", "accounts"} <= {r.get_attribute("data-pool") for r in driver.find_elements(By.CSS_SELECTOR, "#pools tr")}, 5)
            check(took is not None, "with the key: both pools the test made are listed")
            check(driver.execute_script("return sessionStorage.getItem('tokenpool.key')") == ADMIN, "the key is kept in sessionStorage")
            accounts = driver.find_element(By.CSS_SELECTOR, "#pools tr[data-pool=accounts]").text
            check(accounts.split()[1:5] == ["4", "3", "1", "0"], f"the accounts pool's counts: {accounts!r}")
            check(until(lambda: driver.find_elements(By.CSS_SELECTOR, "#pools tr[data-pool=accounts] svg.spark polyline"), 5) is not None,
                  "with a sparkline of its assignments and lapses")
            api(base, "POST", "/pools/accounts/tokens/assign", {"holder": "second"})
            took = until(lambda: driver.find_element(By.CSS_SELECTOR, "#pools tr[data-pool=accounts]").text.split()[1:5] == ["4", "2", "2", "0"], 2)
            check(took is not None, "an assign shows in the pools view within 2 s, with eleven pools listed")

            driver.get(base + "/dashboard/pools/proxies")
            check(until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#free tr")) == 6, 5) is not None, "the pool's page lists its free tokens")
            check(until(lambda: driver.find_element(By.ID, "liveness").text == "live", 5) is not None, "the events stream is live")
            page = driver.find_element(By.TAG_NAME, "body").text
            check("<script>window.pwned = 1</script>" in page and driver.execute_script("return window.pwned") is None,
                  "metadata with <script> and an onerror image is shown as text and never runs")

            started = time.monotonic()
            status, assigned = api(base, "POST", "/pools/proxies/tokens/assign", {"holder": "worker-from-api"})
            took = until(lambda: "worker-from-api" in driver.find_element(By.ID, "assigned").text, 2)
            check(status == 200 and took is not None,
                  f"an assign through the API shows on the page within 2 s ({'%.2f s' % (time.monotonic() - started) if took is not None else 'not seen'})")
            check(until(lambda: "assigned" in driver.find_element(By.ID, "events").text, 2) is not None, "and in the events list")

            count = driver.find_element(By.ID, "generate-count")
            count.clear()
            count.send_keys("3")
            driver.find_element(By.ID, "generate").click()
            check(until(lambda: api(base, "GET", "/pools/proxies")[1]["total"] == 9, 5) is not None,
                  "the page's Generate 3 made three tokens (the API counts 9)")
            check(until(lambda: driver.find_element(By.ID, "s-total").text == "9", 3) is not None, "and the page shows 9")
            # The list re-renders as events arrive: find the button and click it in one step, again
            # if it was replaced in between.
            until(lambda: driver.find_element(By.CSS_SELECTOR, "#assigned button[data-action=unblock]").click() or True, 3)
            check(until(lambda: api(base, "GET", f"/pools/proxies/tokens/{assigned['token']}")[1]["state"] == "free", 5) is not None,
                  "its Unblock frees the token (checked through the API)")
            # Cooling with a countdown; disabled with its reason and an Enable button (#24).
            _, resting = api(base, "POST", "/pools/proxies/tokens/assign")
            api(base, "POST", f"/pools/proxies/tokens/{resting['token']}/unblock?lease={resting['lease']}&cooldown=30")
            shown = until(lambda: resting["token"] in driver.find_element(By.ID, "cooling").text, 3)
            left = driver.find_element(By.CSS_SELECTOR, "#cooling span[data-until]").text if shown else ""
            check(shown is not None and left.endswith(" s") and 20 < float(left[:-2]) <= 30,
                  f"a cooling token shows with a countdown to its availableAt ({left!r})")
            check(until(lambda: driver.find_element(By.ID, "s-cooling").text == "1", 3) is not None, "and the pool's cooling count")
            _, dead = api(base, "POST", "/pools/proxies/tokens/assign")
            api(base, "POST", f"/pools/proxies/tokens/{dead['token']}/disable?lease={dead['lease']}", {"reason": "connection refused"})
            shown = until(lambda: "connection refused" in driver.find_element(By.ID, "disabled").text, 3)
            check(shown is not None and "when enabled" in driver.find_element(By.ID, "disabled").text,
                  "a disabled token shows with its reason, back when enabled")
            until(lambda: driver.find_element(By.CSS_SELECTOR, "#disabled button[data-action=enable]").click() or True, 3)
            check(until(lambda: api(base, "GET", f"/pools/proxies/tokens/{dead['token']}")[1]["state"] == "free", 5) is not None,
                  "its Enable puts it back in service (checked through the API)")
            api(base, "POST", "/pools/proxies/tokens/assign", {"holder": "worker-7"})
            until(lambda: "worker-7" in driver.find_element(By.ID, "assigned").text, 3)
            # The queue in the order it is served, and the tokens set aside for its head (#25): a job
            # that wants more than the pool has waits at the head with every free token set aside.
            big = threading.Thread(target=api, args=(base, "POST", "/pools/proxies/tokens/assign?count=20&wait=6&priority=5", {"holder": "big-job"}))
            big.start()
            shown = until(lambda: "big-job" in driver.find_element(By.ID, "waiters").text, 3)
            reserved = sorted(api(base, "GET", "/pools/proxies/waiters")[1]["setAside"])
            # The table is drawn again every second: its cells are read in one step, in the page.
            cells = "return [...document.querySelectorAll('#waiters tr:first-child td:last-child code')].map((c) => c.textContent.trim())"
            aside = until(lambda: sorted(driver.execute_script(cells)) == reserved and reserved, 3)
            check(shown is not None and aside is not None,
                  f"the queue lists the waiting job with the tokens set aside for it ({len(reserved)} set aside)")
            check(until(lambda: driver.find_element(By.ID, "s-reserved").text == str(len(reserved)), 3) is not None, "and the pool's reserved count")

            outside = [url for url in requested_urls(driver) if not url.startswith(base)]
            check(not outside, f"no request left the server: {outside[:5]}")
            if screenshot:
                driver.save_screenshot(screenshot)
                check(os.path.getsize(screenshot) > 10_000, f"screenshot saved as {screenshot}")
            big.join(timeout=15)

            if assets:
                driver.get(base + "/docs")
                check(until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".opblock")) > 10, 10) is not None,
                      "/docs renders every operation with Swagger UI from this server")
                driver.get(base + "/redoc")
                check(until(lambda: "assignToken" in driver.page_source or "Assign a random free token" in driver.page_source, 10) is not None,
                      "/redoc renders with ReDoc from this server")
                outside = [url for url in requested_urls(driver) if not url.startswith(base)]
                check(not outside, f"and no request of theirs left the server: {outside[:5]}")
        finally:
            if driver:
                driver.quit()
    checks.finish()


if __name__ == "__main__":
    main()
