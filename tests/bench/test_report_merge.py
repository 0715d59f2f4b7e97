"""A run with `--only` merged into the last report, on made-up outcomes (no services, no timing)."""

from __future__ import annotations

from bench.report import render_markdown, section
from bench.runner import with_earlier_rows
from bench.stats import Outcome, Target

FULL = ("overhead", "pipeline", "write", "semantic", "memory", "retrieval", "remote")
FIRST_RUN = "2026-11-30 09:00:00 UTC"
SECOND_RUN = "2026-12-01 10:00:00 UTC"
THIRD_RUN = "2026-12-02 11:00:00 UTC"


def _outcome(key: str, title: str, value: float, sample: float) -> Outcome:
    outcome = Outcome(key, title, Target(">=", 1.0, "×"), value=value)
    outcome.add_series("ours", "docs/s").samples = [sample]
    return outcome


def _overhead(value: float = 1.1) -> list[Outcome]:
    return [
        _outcome("overhead", "Overhead, pool", value, 11.0),
        _outcome("overhead", "Overhead, fork", value, 12.0),
    ]


def _e2e(value: float = 2.0) -> Outcome:
    return _outcome("e2e", "End to end", value, 21.0)


def _memory() -> Outcome:
    return _outcome("memory", "Memory", 3.0, 31.0)


def _report(command: str, started: str, outcomes: list[Outcome]) -> str:
    return render_markdown(
        command=command,
        started=started,
        seconds=1.0,
        machine={},
        corpus="3 documents",
        repetitions=1,
        outcomes=outcomes,
    )


def _full_report() -> str:
    return _report("python -m bench", FIRST_RUN, [*_overhead(), _e2e(), _memory()])


def _results(markdown: str) -> list[str]:
    """The lines of the results table: its head, then a line per row."""
    table = section(markdown, "## Results")
    return [line for line in table if line.startswith("| ") and "---" not in line]


def test_a_partial_run_keeps_the_other_rows_and_details_marked_with_their_run() -> None:
    partial = _report("python -m bench --only pipeline", SECOND_RUN, [_e2e(2.5)])

    merged = with_earlier_rows(("pipeline",), partial, _full_report())

    rows = _results(merged)[1:]
    assert [row.split(" | ")[1] for row in rows] == [
        f"Overhead, pool *(from the run of {FIRST_RUN})*",
        f"Overhead, fork *(from the run of {FIRST_RUN})*",
        "End to end",
        f"Memory *(from the run of {FIRST_RUN})*",
    ]
    assert rows[2].startswith("| 3 | End to end | 21.0 docs/s | — | 2.50× |")
    assert rows[3].startswith("| 4 | Memory *(")
    assert "| 31.0 docs/s | 31.0 docs/s |" in merged  # the memory row's details
    details = merged[merged.index("### Memory") :]
    assert f"*Kept from the run of {FIRST_RUN}, not measured by this one.*" in details
    assert (
        f"This run measured row 3 of the results; the others are kept from earlier runs: "
        f"rows 1, 2 and 4 from the run of {FIRST_RUN}."
    ) in merged


def test_running_the_same_block_again_replaces_its_rows() -> None:
    first = with_earlier_rows(
        ("overhead",),
        _report("python -m bench --only overhead", SECOND_RUN, _overhead(0.9)),
        _full_report(),
    )

    again = with_earlier_rows(
        ("overhead",),
        _report("python -m bench --only overhead", THIRD_RUN, _overhead(0.8)),
        first,
    )

    rows = _results(again)[1:]
    assert len(rows) == 4
    assert rows[0].startswith("| 1 | Overhead, pool | 11.0 docs/s | — | 0.80× |")
    assert rows[1].startswith("| 2 | Overhead, fork | 12.0 docs/s | — | 0.80× |")
    assert "0.90×" not in again
    assert again.count("### Overhead, pool") == 1


def test_a_kept_row_keeps_the_date_of_the_run_that_measured_it() -> None:
    after_e2e = with_earlier_rows(
        ("pipeline",),
        _report("python -m bench --only pipeline", SECOND_RUN, [_e2e(2.5)]),
        _full_report(),
    )

    after_memory = with_earlier_rows(
        ("memory",), _report("python -m bench --only memory", THIRD_RUN, [_memory()]), after_e2e
    )

    rows = _results(after_memory)[1:]
    assert rows[0].startswith(f"| 1 | Overhead, pool *(from the run of {FIRST_RUN})* |")
    assert rows[2].startswith(f"| 3 | End to end *(from the run of {SECOND_RUN})* | 21.0")
    assert rows[3].startswith("| 4 | Memory | 31.0 docs/s |")
    assert after_memory.count("*Kept from the run of") == 3
    assert (
        f"rows 1 and 2 from the run of {FIRST_RUN}; row 3 from the run of {SECOND_RUN}."
    ) in after_memory


def test_a_new_measurement_takes_its_place_in_the_full_runs_order() -> None:
    earlier = _report(
        "python -m bench --only overhead,memory", FIRST_RUN, [*_overhead(), _memory()]
    )

    merged = with_earlier_rows(
        ("pipeline",), _report("python -m bench --only pipeline", SECOND_RUN, [_e2e()]), earlier
    )

    titles = [row.split(" | ")[1].split(" *(")[0] for row in _results(merged)[1:]]
    assert titles == ["Overhead, pool", "Overhead, fork", "End to end", "Memory"]


def test_a_full_run_drops_nothing_and_marks_nothing() -> None:
    earlier = with_earlier_rows(
        ("pipeline",),
        _report("python -m bench --only pipeline", SECOND_RUN, [_e2e(2.5)]),
        _full_report(),
    )
    full = _report("python -m bench", THIRD_RUN, [*_overhead(), _e2e(), _memory()])

    report = with_earlier_rows(FULL, full, earlier)

    assert report == full
    assert len(_results(report)) == 5
    assert "from the run of" not in report
    assert "2.50×" not in report


def test_rows_of_a_report_without_measurement_notes_are_matched_by_title() -> None:
    legacy = "\n".join(
        line.split(" <!--")[0] for line in _full_report().splitlines() if "<!--" not in line[:4]
    )

    merged = with_earlier_rows(
        ("pipeline",), _report("python -m bench --only pipeline", SECOND_RUN, [_e2e(2.5)]), legacy
    )

    rows = _results(merged)[1:]
    assert len(rows) == 4
    assert rows[2].startswith("| 3 | End to end | 21.0 docs/s | — | 2.50× |")
    assert rows[3].startswith(f"| 4 | Memory *(from the run of {FIRST_RUN})* |")


def test_a_run_without_the_pipeline_keeps_the_last_profile() -> None:
    from collections import Counter

    from bench.profile import Profile

    profile = Profile(samples=10, self_time=Counter({"embed (h.py)": 10}), output=None)
    earlier = render_markdown(
        command="python -m bench",
        started=FIRST_RUN,
        seconds=1.0,
        machine={},
        corpus="3 documents",
        repetitions=1,
        outcomes=[*_overhead(), _e2e(), _memory()],
        profile=profile,
    )

    merged = with_earlier_rows(
        ("memory",), _report("python -m bench --only memory", SECOND_RUN, [_memory()]), earlier
    )

    assert f"end-to-end run, in the run of {FIRST_RUN} (raw stacks: `none`)." in merged
    assert merged.index("## Details") < merged.index("## Profile") < merged.index("## Reproduce")


def test_a_partial_run_that_measures_every_earlier_row_keeps_none() -> None:
    earlier = _report("python -m bench --only memory", FIRST_RUN, [_memory()])
    partial = _report("python -m bench --only memory,pipeline", SECOND_RUN, [_e2e(), _memory()])

    merged = with_earlier_rows(("memory", "pipeline"), partial, earlier)

    assert merged == partial
