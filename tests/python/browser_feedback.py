"""Drives the phone page's consent and feedback in headless Chromium.

Usage: browser_feedback.py URL PHOTO CORRECTION SCREENSHOT

Loads the page, checks that the consent checkbox is shown and unticked,
ticks it, puts PHOTO into the file input, waits for the answer and the
"Right? / No, it is …" card, picks CORRECTION in "No, it is …" and sends it,
waits for the thanks, saves a screenshot and prints one JSON object (the
consent box's state and sentence, the receipt shown, the answer, the status
line, the thanks)
for the Rust test to check against the server. The browser: phone_browser.py.
"""

import json
import os
import sys

from phone_browser import phone_chromium
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


def main() -> None:
    url, photo, correction, screenshot = sys.argv[1:5]
    driver = phone_chromium()
    try:
        driver.get(url)
        box = driver.find_element(By.ID, "consent-box")
        WebDriverWait(driver, 30).until(lambda d: box.is_displayed())
        consent = driver.find_element(By.ID, "consent")
        initially_ticked = consent.is_selected()
        sentence = box.text
        consent.click()
        driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(os.path.abspath(photo))
        feedback = driver.find_element(By.ID, "feedback")
        WebDriverWait(driver, 60).until(
            lambda d: feedback.is_displayed() or d.find_elements(By.CSS_SELECTOR, "#status .error"))
        receipt = driver.find_element(By.ID, "receipt").text
        asked = driver.find_element(By.ID, "ask").text
        Select(driver.find_element(By.ID, "correction")).select_by_value(correction)
        driver.find_element(By.ID, "no").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "thanks").text.strip())
        result = {
            "initially_ticked": initially_ticked,
            "consent_sentence": sentence,
            "answer": driver.find_element(By.ID, "answer").text,
            "status": driver.find_element(By.ID, "status").text,
            "asked": asked,
            "receipt": receipt,
            "thanks": driver.find_element(By.ID, "thanks").text,
        }
        driver.save_screenshot(screenshot)
        print(json.dumps(result))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
