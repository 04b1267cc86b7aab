"""Does the phone page's shrinking change the answers? (BENCHMARKS.md,
"The phone page's shrinking").

    .venv/bin/python bench/phone_page_parity.py http://127.0.0.1:8080 LARGE_DIR

Every photo under LARGE_DIR (`<label>/<file>.jpg`, phone-sized, e.g. from
bench/make_large_photos.py) is answered twice by the running `orchard
serve`: posted as it is (the server decodes and resizes the whole photo),
and put into the phone page's file input in headless Chromium
(tests/python/phone_browser.py), which shrinks it to 1,280 px before
sending. Prints how often the two answers agree (label, sure), the largest
change in the top probability, each path's top-1 against the folder's
label, the bytes sent and the time the server took.
"""
import glob
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from phone_browser import phone_chromium  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# Keeps the page's last /v1/identify answer and the size of what it sent.
RECORD = """
const original = window.fetch;
window.__answers = [];
window.fetch = async (url, options) => {
  const response = await original(url, options);
  if (String(url).endsWith("/v1/identify")) {
    const sent = options.body.get("photo").size;
    const body = await response.clone().json();
    window.__answers.push({ sent, body });
  }
  return response;
};
"""


def post(url, photo):
    request = urllib.request.Request(url + "/v1/identify", data=open(photo, "rb").read(),
                                     headers={"Content-Type": "image/jpeg"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.load(reply)


def main():
    url, folder = sys.argv[1].rstrip("/"), sys.argv[2]
    photos = sorted(glob.glob(os.path.join(folder, "*", "*.jpg")))
    driver = phone_chromium()
    rows = []
    try:
        driver.get(url + "/")
        driver.execute_script(RECORD)
        file_input = driver.find_element(By.CSS_SELECTOR, "input[type=file]")
        for i, photo in enumerate(photos):
            direct = post(url, photo)
            file_input.send_keys(os.path.abspath(photo))
            WebDriverWait(driver, 60).until(
                lambda d: d.execute_script("return window.__answers.length") > i)
            page = driver.execute_script("return window.__answers[arguments[0]]", i)
            label = os.path.basename(os.path.dirname(photo))
            rows.append((label, direct, page["body"], page["sent"], os.path.getsize(photo)))
            driver.execute_script("document.querySelector('input[type=file]').value = ''")
    finally:
        driver.quit()
    n = len(rows)
    same_label = sum(d["label"] == p["label"] for _, d, p, _, _ in rows)
    same_sure = sum(d["sure"] == p["sure"] for _, d, p, _, _ in rows)
    shift = max(abs(d["probability"] - p["probability"]) for _, d, p, _, _ in rows)
    right = lambda k: sum(r[k]["top"][0]["label"] == r[0] for r in rows) / n  # noqa: E731
    sent = sum(r[3] for r in rows) / n / 1e3
    size = sum(r[4] for r in rows) / n / 1e3
    print(f"{n} photos: same top label {same_label}/{n}, same sure {same_sure}/{n}, "
          f"largest change in the top probability {shift:.3f}")
    print(f"top-1 posted as they are {right(1):.3f}, through the phone page {right(2):.3f}")
    print(f"mean bytes sent: {size:.0f} kB as they are, {sent:.0f} kB through the phone page")
    served = lambda k: sum(r[k]["timings_ms"]["total"] for r in rows) / n  # noqa: E731
    print(f"mean time in the server: {served(1):.0f} ms as they are, {served(2):.0f} ms through the phone page")


if __name__ == "__main__":
    main()
