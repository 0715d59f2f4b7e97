"""The peers measure's verdicts, errors and table, on made-up samples (no services, no timing),
and the `ingest add` command line it runs, checked against the command's own parser."""

from __future__ import annotations

import uuid
from pathlib import Path

from bench.measures import peers
from bench.paths import REPO


def _hashing(seconds: dict[str, list[float]]) -> peers.EmbedderOutcomes:
    entry = peers.new_outcomes(peers.peer_repetitions(3, 0)).by_embedder[0]
    for key, samples in seconds.items():
        entry.seconds[key].samples = samples
    return entry


def test_ours_is_compared_with_the_fastest_peer_that_ran() -> None:
    entry = _hashing(
        {
            "ours-2-wait": [2.0, 2.2, 1.8],
            "ours-2": [1.9, 2.0, 2.1],
            "langchain-pypdfium2": [5.0, 4.0, 4.5],
            "langchain-pypdf": [9.0, 9.0, 9.0],
            "llamaindex-1": [18.0, 18.0, 18.0],
        }
    )
    entry.failures["llamaindex-2"] = "PeerFailed: boom"

    peers._conclude(entry)

    assert entry.peers is not None and entry.wait is not None
    assert entry.peers.value == 4.5 / 2.0
    assert entry.peers.met is True
    assert entry.peers.columns == (0, peers.ROWS.index(peers.PEERS[0]))
    assert entry.wait.value == 2.0 / 2.0
    assert "llamaindex-2 failed: PeerFailed: boom" in entry.peers.notes


def test_without_a_peer_that_ran_the_row_says_which_failed() -> None:
    entry = _hashing({"ours-2-wait": [2.0], "ours-2": [2.0]})
    for peer in peers.PEERS:
        entry.failures[peer.key] = "PeerFailed: no"

    peers._conclude(entry)

    assert entry.peers is not None
    assert entry.peers.met is None
    assert (
        entry.peers.skipped is not None and "langchain-pypdf: PeerFailed: no" in entry.peers.skipped
    )


def test_the_local_model_adds_scaling_and_encode_rows() -> None:
    outcomes = peers.new_outcomes(peers.peer_repetitions(3, 1))

    keys = [[o.key for o in entry.outcomes()] for entry in outcomes.by_embedder]

    assert keys == [
        ["peers", "peers-wait"],
        ["peers", "peers-wait", "peers-scaling", "peers-encode"],
    ]
    assert peers.new_outcomes(peers.peer_repetitions(2, 0)).by_embedder[0].embedder == "hashing"


def test_the_error_is_the_exception_line_not_the_warnings_after_it() -> None:
    errors = (
        "WARNING:root:something\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "    raise ValueError('bad pdf')\n"
        "ValueError: bad pdf\n"
        "/usr/lib/python3.11/multiprocessing/resource_tracker.py:254: UserWarning: leaked\n"
        "  warnings.warn('resource_tracker: There appear to be %d '\n"
    )

    assert peers.error_line(errors) == "ValueError: bad pdf"
    assert peers.error_line("just one line\n\n") == "just one line"
    assert peers.error_line("") is None


def test_an_error_is_bounded_and_names_no_machine_directory() -> None:
    error = RuntimeError(f"cannot read {REPO / 'bench' / 'out' / 'x.pdf'}: " + "x" * 1000)

    text = peers.bounded_error(error)

    assert text.startswith("RuntimeError: cannot read bench/out/x.pdf")
    assert len(text) == peers.ERROR_CHARACTERS
    assert str(REPO) not in text


def test_the_table_shows_each_row_and_a_failing_peer_with_its_error() -> None:
    entry = _hashing(
        {
            "ours-2-wait": [5.1],
            "ours-2": [4.0],
            "ours-1-wait": [6.0],
            "ours-enqueue-2": [3.0],
            "langchain-pypdfium2": [3.2],
            "langchain-pypdf": [9.1],
            "llamaindex-1": [18.6],
        }
    )
    entry.failures["llamaindex-2"] = "PeerFailed: a | b"
    peers._conclude(entry)
    outcomes = peers.PeerOutcomes([entry], corpus="20 documents")

    lines = peers.render(outcomes, "quick", {"cpu": "test cpu", "logical_cores": 2})

    assert lines[0] == "## Peers"
    assert any("test cpu, 2 logical cores" in line for line in lines)
    assert (
        "| quick, hashing, median of 3 | 5.10 s | 4.00 s | 6.00 s | 3.00 s | 3.20 s | 9.10 s "
        "| 18.6 s | fails: PeerFailed: a / b |" in lines
    )
    assert any("0.63× (target ≥ 1.50×): not met" in line for line in lines)


def test_the_user_path_command_is_one_ingest_accepts(tmp_path: Path) -> None:
    from bench.user_path import ingest_command

    from cli.main import build_parser

    workspace = uuid.uuid4()
    for wait in (True, False):
        command = ingest_command(tmp_path, workspace, wait=wait)
        assert command[1:3] == ["-m", "cli"]
        args = build_parser().parse_args(command[3:])
        assert (args.command, args.paths, args.workspace, args.wait) == (
            "add",
            [tmp_path],
            workspace,
            wait,
        )


def test_the_table_keeps_the_other_corpus_rows_from_its_json_report() -> None:
    full = _hashing({"ours-2-wait": [199.0], "langchain-pypdfium2": [205.0]})
    full.failures["llamaindex-2"] = "TimeoutExpired: 4400 s"
    report = {
        "size": "full",
        "started": "2026-11-30 22:00:00 UTC",
        "corpus": "701 documents",
        "peers": peers.PeerOutcomes([full]).as_dict(),
    }
    quick = _hashing({"ours-2-wait": [5.0]})

    earlier = peers.earlier_run(report)
    lines = peers.render(peers.PeerOutcomes([quick], "20 documents"), "quick", {}, earlier)

    rows = [line for line in lines if line.startswith("| quick") or line.startswith("| full")]
    assert rows[0].startswith("| quick, hashing, median of 3 | 5.00 s |")
    assert rows[1].startswith("| full, hashing, median of 3 (run of 2026-11-30 22:00:00 UTC) |")
    assert "| 199 s |" in rows[1] and "| 205 s |" in rows[1]
    assert rows[1].endswith("| fails: TimeoutExpired: 4400 s |")
    assert "- The full corpus: 701 documents." in lines
    assert peers.earlier_run({"size": "full", "peers": None}) is None


def test_the_local_model_rows_compare_two_workers_with_one_and_with_model_encode() -> None:
    entry = peers.new_outcomes(peers.peer_repetitions(0, 1)).by_embedder[0]
    entry.seconds["ours-2-wait"].samples = [100.0]
    entry.seconds["ours-1-wait"].samples = [150.0]
    entry.seconds["langchain-pypdfium2"].samples = [120.0]
    assert entry.encode is not None and entry.scaling is not None
    entry.encode.series[0].samples = [9.0]
    entry.encode.series[1].samples = [10.0]

    peers._conclude(entry)

    assert entry.scaling.value == 1.5 and entry.scaling.met is True
    assert entry.encode.value == 0.9 and entry.encode.met is True
    assert entry.peers is not None and entry.peers.met is False
