"""The floor plan's editor in real headless Chromium (static/js/floorplan-editor.js): the equipment engineer drags
a room's rectangle and its corner with the mouse, the table's inputs follow on the 10-unit grid, an overlap typed
in the table turns red in the preview, and the saved plan draws the room at its new place (TJ-6.5, SH-6.3.1)."""

from __future__ import annotations

import pytest
from browser import log_in
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def drag(page: Page, start: tuple[float, float], units: tuple[int, int], scale: float) -> None:
    """Press at ``start`` (pixels), move by ``units`` of the plan in a few steps, release."""
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + units[0] * scale, start[1] + units[1] * scale, steps=8)
    page.mouse.up()


@pytest.mark.clause("TJ-6.5", "SH-6.3.1")
def test_the_engineer_drags_a_room_to_its_new_place_and_saves_the_plan(page: Page, server: str) -> None:
    log_in(page, server, "wuhao")
    page.goto(f"{server}/monitoring/floor-plan")
    page.click("[data-testid=edit-plan]")
    svg = page.locator("[data-testid=plan-preview-svg]")
    expect(svg).to_be_visible()  # JavaScript shows the preview
    svg.scroll_into_view_if_needed()
    plan = svg.bounding_box()
    assert plan is not None
    scale = plan["width"] / 1000

    room = page.locator("[data-testid=preview-RM-PACK] rect").first  # at 660, 260, 220 × 180
    box = room.bounding_box()
    assert box is not None
    middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    drag(page, middle, (83, 18), scale)  # snaps to 80, 20
    field = "[data-testid=edit-RM-PACK] input[data-side={}]".format
    expect(page.locator(field("x"))).to_have_value("740")
    expect(page.locator(field("y"))).to_have_value("280")
    corner = page.locator("[data-testid=preview-RM-PACK] rect[data-handle]").bounding_box()
    assert corner is not None
    drag(page, (corner["x"] + corner["width"] / 2, corner["y"] + corner["height"] / 2), (-38, 300), scale)
    expect(page.locator(field("w"))).to_have_value("180")  # 220 − 40
    expect(page.locator(field("h"))).to_have_value("320")  # kept inside the plan: 600 − 280
    preview = page.locator("[data-testid=preview-RM-PACK]")
    expect(preview).to_have_attribute("data-overlap", "true")  # into the pure-steam box
    page.fill(field("h"), "180")  # typing redraws
    expect(preview).to_have_attribute("data-overlap", "false")
    expect(page.locator("[data-testid=plan-overlaps]")).to_have_text("")

    page.fill("input[name=reason]", "包装间东移")
    page.click("[data-testid=save]")
    page.wait_for_url(f"{server}/monitoring/floor-plan?done=1")
    drawn = page.locator("[data-testid=plan-RM-PACK] rect")
    expect(drawn).to_have_attribute("x", "740")
    expect(drawn).to_have_attribute("y", "280")
    expect(drawn).to_have_attribute("width", "180")
    expect(page.locator(".flash.ok")).to_be_visible()
