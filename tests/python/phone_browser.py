"""Headless Chromium with a phone's viewport, for the browser tests
(browser_identify.py, browser_feedback.py). Uses Debian's chromium and
chromedriver (CHROMIUM / CHROMEDRIVER override the paths); Selenium is told
both, so it never tries to download a browser or a driver."""
import os

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def phone_chromium() -> webdriver.Chrome:
    """A headless Chromium driver, 412x915 (a phone), pages loaded within 30 s."""
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=412,915",  # a phone's viewport
    ):
        options.add_argument(flag)
    service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    return driver
