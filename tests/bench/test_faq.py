"""The FAQ question set takes every question out of the text it ingests."""

from __future__ import annotations

from pathlib import Path

from bench.faq import _debian_page

CHAPTER = """<html><head><title>Chapter 1. Basics</title></head><body><div class="chapter">
<h1>Chapter 1. Basics</h1>
<div class="toc"><p><strong>Table of Contents</strong></p><dl class="toc">
<dt><span class="section"><a href="basics.en.html#what">1.1. What is Debian?</a></span></dt>
<dt><span class="section"><a href="basics.en.html#history">1.2. History</a></span></dt>
</dl></div>
<div class="section"><div class="titlepage">
<h2 class="title"><a id="what"></a>1.1. What is Debian?</h2></div>
<p>Debian is an operating system made by volunteers all over the world.</p></div>
<div class="section"><div class="titlepage">
<h2 class="title"><a id="history"></a>1.2. History</h2></div>
<p>It started in 1993.</p></div>
</div></body></html>"""


def test_a_question_is_taken_out_of_its_heading_and_the_table_of_contents(tmp_path: Path) -> None:
    page = tmp_path / "basics.en.html"
    page.write_text(CHAPTER, encoding="utf-8")

    filename, data, (question,) = _debian_page(page)

    assert (filename, question.text) == ("basics.html", "What is Debian?")
    assert question.answer == "Debian is an operating system made by volunteers all over the world."
    assert b"What is Debian?" not in data
    assert b"1.2. History" in data
