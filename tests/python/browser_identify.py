"""Drives `orchard serve`'s phone page in headless Chromium, as a person would.

Usage: browser_identify.py URL PHOTO SCREENSHOT

Loads the page at URL, puts PHOTO into the page's file input (the one with
capture=environment a phone opens its camera from), waits for the answer and
the facts card, saves a screenshot (PNG, a phone-sized window) and prints the
page's answer, alternatives and facts as one JSON object, for the Rust test to
check. Uses Debian's chromium and chromedriver (CHROMIUM / CHROMEDRIVER
override the paths); Selenium is told both, so it never tries to download a
browser or a driver.
"""

import json
import os
import sys

from phone_browser import phone_chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def main() -> None:
    url, photo, screenshot = sys.argv[1:4]
    driver = phone_chromium()
    try:
        driver.get(url)
        file_input = driver.find_element(By.CSS_SELECTOR, "input[type=file]")
        capture = file_input.get_attribute("capture")
        file_input.send_keys(os.path.abspath(photo))
        WebDriverWait(driver, 60).until(
            lambda d: d.find_element(By.ID, "answer").text.strip()
            or d.find_element(By.CSS_SELECTOR, "#status .error")
        )
        result = {
            "capture": capture,
            "status": driver.find_element(By.ID, "status").text,
            "answer": driver.find_element(By.ID, "answer").text,
            "alternatives": driver.find_element(By.ID, "alternatives").get_attribute(
                "textContent"
            ),
            "facts": driver.find_element(By.ID, "facts").text,
            "preview_shown": driver.execute_script(
                "const p = document.getElementById('preview');"
                "return p.complete && p.naturalWidth > 0;"
            ),
        }
        driver.save_screenshot(screenshot)
        print(json.dumps(result))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
