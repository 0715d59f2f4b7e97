"""The benchmark's arithmetic and report rendering, on made-up samples (no services, no timing)."""

from __future__ import annotations

import json

from bench.measures.pipeline import report_both_modes
from bench.profile import summarise
from bench.report import render_markdown, write_json
from bench.stats import Outcome, Series, Target, format_value, ratio


def test_median_of_odd_and_even_sample_counts() -> None:
    assert Series("a", "docs/s", [3.0, 1.0, 2.0]).median == 2.0
    assert Series("a", "docs/s", [4.0, 1.0, 2.0, 3.0]).median == 2.5
    assert Series("a", "docs/s").median is None


def test_ratio_refuses_missing_or_zero_denominators() -> None:
    assert ratio(6.0, 2.0) == 3.0
    assert ratio(6.0, 0.0) is None
    assert ratio(None, 2.0) is None


def test_targets_compare_in_their_direction() -> None:
    assert Target(">=", 0.95, "×").met_by(0.95) is True
    assert Target(">=", 0.95, "×").met_by(0.94) is False
    assert Target("<=", 1.25, "×").met_by(1.3) is False
    assert Target("<", 300.0, "MB").met_by(299.9) is True
    assert Target("<", 300.0, "MB").met_by(None) is None


def test_skipped_outcome_is_neither_met_nor_missed() -> None:
    outcome = Outcome("x", "X", Target(">=", 1.0, "×"), value=2.0, skipped="not built")
    assert outcome.met is None


def test_report_shows_medians_ratio_and_verdicts(tmp_path) -> None:
    met = Outcome("e2e", "End to end", Target(">=", 5.0, "×"))
    met.add_series("ours", "docs/s").samples = [10.0, 12.0, 11.0]
    met.add_series("baseline", "docs/s").samples = [2.0, 2.0, 2.2]
    met.value = ratio(met.series[0].median, met.series[1].median)
    missed = Outcome("memory", "Memory", Target("<", 300.0, "MB"), value=412.0)
    markdown = render_markdown(
        command="python -m bench --size quick",
        started="today",
        seconds=12.0,
        machine={"cpu": "test cpu", "packages": {"rq": "2"}},
        corpus="20 documents",
        repetitions=3,
        outcomes=[met, missed],
    )
    assert "| 1 | End to end | 11.0 docs/s | 2.00 docs/s | 5.50× | ≥ 5.00× | met |" in markdown
    assert "| 2 | Memory | — | — | 412 MB | < 300 MB | **not met** |" in markdown
    assert "test cpu" in markdown
    path = tmp_path / "report.json"
    write_json(path, {"outcomes": [met.as_dict()]})
    assert json.loads(path.read_text())["outcomes"][0]["met"] is True


def test_format_value_keeps_three_figures() -> None:
    assert format_value(1234.4, "rows/s") == "1,234 rows/s"
    assert format_value(12.34, "s") == "12.3 s"
    assert format_value(0.951, "×") == "0.95×"


def test_profile_summary_counts_self_and_project_time(tmp_path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(
        'process 1:"python";main (worker/__main__.py:1);embed (infrastructure/embeddings/h.py:9);'
        "sha (hashlib.py:3) 3\n"
        'process 1:"python";main (worker/__main__.py:1);wait (psycopg/connection.py:5) 1\n'
    )
    profile = summarise(raw)
    assert profile.samples == 4
    assert profile.top_self(1) == [("sha (hashlib.py)", 0.75)]
    assert dict(profile.top_project())["embed (infrastructure/embeddings/h.py)"] == 0.75


def _two_mode_outcome(fork: float, inline: float) -> Outcome:
    outcome = Outcome("e2e", "End to end", Target(">=", 5.0, "×"))
    outcome.add_series("ours, fork", "docs/s").samples = [fork]
    outcome.add_series("baseline", "docs/s").samples = [1.0]
    outcome.add_series("ours, inline", "docs/s").samples = [inline]
    return outcome


def test_a_row_always_shows_the_default_mode_and_notes_inline() -> None:
    """The row is the default's, even when only inline meets the target: the report shows what
    users run."""
    both_miss, only_inline = _two_mode_outcome(4.0, 4.5), _two_mode_outcome(4.0, 6.0)
    for outcome in (both_miss, only_inline):
        report_both_modes(outcome, default=(0, 1), inline=(2, 1))

    assert (both_miss.value, both_miss.columns) == (4.0, (0, 1))
    assert (only_inline.value, only_inline.columns) == (4.0, (0, 1))
    assert "with WORKER_MODE=inline: 6.00×" in only_inline.notes[0]


def test_a_size_slice_keeps_the_mix_of_sizes_in_corpus_order(tmp_path) -> None:
    from pathlib import Path

    from bench.context import Blob
    from bench.corpus import CorpusFile
    from bench.measures.pipeline import size_slice

    sizes = [50, 10, 90, 30, 70, 20, 100, 40, 80, 60]
    blobs = [
        Blob(CorpusFile(Path(f"doc{n}.txt"), "text", size), f"k{n}", Path(f"/b/{n}"))
        for n, size in enumerate(sizes)
    ]

    part = size_slice(blobs, 5)

    assert [b.file.size for b in part] == [30, 80]  # the middle of 10-50 and of 60-100
    assert size_slice(blobs, 1) == blobs


def test_the_report_names_files_relative_to_the_repository() -> None:
    from collections import Counter

    from bench.paths import OUT, REPO, without_repository
    from bench.profile import Profile

    profile = Profile(samples=1, self_time=Counter({"f (a.py)": 1}), output=OUT / "profile.txt")
    markdown = render_markdown(
        command="python -m bench",
        started="today",
        seconds=1.0,
        machine={},
        corpus="1 document",
        repetitions=1,
        outcomes=[],
        profile=profile,
    )

    assert "(raw stacks: `bench/out/profile.txt`)" in markdown
    assert str(REPO) not in markdown
    assert without_repository(f"see {OUT / 'logs' / 'q.log'}") == "see bench/out/logs/q.log"
