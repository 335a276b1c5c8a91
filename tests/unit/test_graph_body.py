"""Our text inside a Graph event's HTML body: found, compared and replaced in place (R26)."""

from __future__ import annotations

from adapters.calendar.graph.body import body_update, html_body, our_text

OUTLOOK = (
    "<html><head><meta charset='utf-8'></head><body>\n"
    '<div class="x_calsync-body">Agenda:<br/><div>1. Prices &amp; terms</div></div>\n'
    "<div>____<br><b>Microsoft Teams meeting</b></div></body></html>"
)


def test_r26_our_text_round_trips_escaped() -> None:
    text = "Hello <you>\n\nAgenda:\n1. a & b"
    assert our_text(html_body(text)) == text


def test_r26_our_wrapper_is_found_as_outlook_renders_it_with_nested_divs() -> None:
    assert our_text({"contentType": "html", "content": OUTLOOK}) == "Agenda:\n1. Prices & terms"


def test_r26_unchanged_text_needs_no_body() -> None:
    body = {"contentType": "html", "content": OUTLOOK}
    assert body_update(body, "Agenda:\n  1. Prices & terms\n") is None


def test_r26_changed_text_replaces_only_our_wrapper() -> None:
    changed = body_update({"contentType": "html", "content": OUTLOOK}, "Agenda:\nDemo")
    assert changed == {
        "contentType": "html",
        "content": "<html><head><meta charset='utf-8'></head><body>\n"
        '<div id="calsync-body">Agenda:<br>Demo</div>\n'
        "<div>____<br><b>Microsoft Teams meeting</b></div></body></html>",
    }


def test_r26_a_body_without_our_wrapper_keeps_its_content_after_ours() -> None:
    plain = {"contentType": "text", "content": "Parking <level 2>"}
    assert body_update(plain, "Ours") == {
        "contentType": "html",
        "content": '<div id="calsync-body">Ours</div>Parking &lt;level 2&gt;',
    }
    assert body_update(plain, "") is None
    assert body_update({"contentType": "text", "content": ""}, "Ours") == html_body("Ours")
