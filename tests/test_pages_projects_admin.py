"""Admins create and rename projects in the UI (Chromium, with and without JavaScript);
others see no such form."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.conftest import running_app
from tests.support.access import PASSWORD, create_personas, secured
from trackmaster.models import AuditEntry, Project

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("javascript", [True, False])
async def test_an_admin_creates_and_renames_a_project(browser, live_server, db, javascript) -> None:
    context = await browser.new_context(java_script_enabled=javascript)
    page = await context.new_page()
    try:
        await page.goto(f"{live_server.url}/projects")
        await page.get_by_text("New project").click()
        await page.get_by_label("Name").fill("Checkout app")
        await page.get_by_label("Description").fill("web and iOS")
        await page.get_by_role("button", name="Create the project").click()
        await page.wait_for_url(re.compile(r"/projects/\d+$"))
        await expect(page.locator("h1")).to_have_text("Checkout app")
        project = await Project.get(name="Checkout app")
        assert project.jet_id is None and project.description == "web and iOS"

        await page.get_by_text("Rename").click()
        await page.locator("#rename-project").get_by_label("Name").fill("Checkout")
        await page.locator("#rename-project").get_by_role("button", name="Save").click()
        await expect(page.locator("h1")).to_have_text("Checkout")
        assert (await Project.get(id=project.id)).name == "Checkout"
        assert await AuditEntry.filter(action="project.rename").count() == 1

        # A second project of the same name is refused, next to the form, nothing made.
        await page.goto(f"{live_server.url}/projects")
        await page.get_by_text("New project").click()
        await page.get_by_label("Name").fill("Checkout")
        await page.get_by_role("button", name="Create the project").click()
        await expect(page.locator(".new-project .alert-error")).to_contain_text("exists already")
        assert await Project.filter(name="Checkout").count() == 1
    finally:
        await context.close()


async def test_testers_see_no_project_forms(browser, settings) -> None:
    names = await create_personas()
    project = await Project.create(name="files app")
    async with running_app(secured(settings)) as server:
        context = await browser.new_context()
        page = await context.new_page()
        try:
            await page.goto(f"{server.url}/login")
            await page.get_by_label("Username").fill(names["tester"])
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(re.compile(r"/$"))
            await page.goto(f"{server.url}/projects")
            await expect(page.locator("#new-project")).to_have_count(0)
            await page.goto(f"{server.url}/projects/{project.id}")
            await expect(page.locator("#rename-project")).to_have_count(0)
        finally:
            await context.close()
