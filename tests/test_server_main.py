"""``python -m etp_sync.server`` sets its own garbage collector policy once it listens (and only
that entry point does); its --help says so. Bad arguments are one-line errors with the exit
codes of ``etp-sync``."""

from __future__ import annotations

import argparse
import gc
import inspect
from collections.abc import Callable, Iterator

import pytest
from conftest import Harness

from etp_sync.cli import EXIT_USAGE
from etp_sync.errors import ETPInvalidArgument
from etp_sync.server import EmbeddedServer
from etp_sync.server import __main__ as server_main


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """The test process's collector as it was, whatever the test set."""
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_main_sets_the_gc_policy_once_listening(
    monkeypatch: pytest.MonkeyPatch, restored_gc: None, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[tuple[int, ...], int]] = []

    def fake_serve(args: argparse.Namespace, on_ready: Callable[[str], None]) -> int:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))  # before it listens
        on_ready("ws://127.0.0.1:1/")
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        return 0

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    monkeypatch.setattr(server_main, "serve", fake_serve)
    assert server_main.main(["--port", "0"]) == 0
    (before, frozen_before), (after, frozen_after) = seen
    assert before == (700, 10, 10) and frozen_before == 0
    assert after == server_main.GC_THRESHOLD
    assert frozen_after > 0
    assert "listening on ws://127.0.0.1:1/" in capsys.readouterr().out


def test_serve_leaves_the_gc_alone(restored_gc: None, capsys: pytest.CaptureFixture[str]) -> None:
    """``serve`` (``etp-sync serve``, applications) announces without touching the collector."""
    on_ready = inspect.signature(server_main.serve).parameters["on_ready"].default
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    on_ready("ws://127.0.0.1:1/")
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0
    assert "listening on ws://127.0.0.1:1/" in capsys.readouterr().out


def test_help_documents_the_gc_policy() -> None:
    text = " ".join(server_main.build_parser().format_help().split())
    assert "gc.freeze" in text and f"{server_main.GC_THRESHOLD[0]:,}" in text


@pytest.mark.parametrize("port", [-1, 65536, 70000])
def test_a_port_out_of_range_is_an_invalid_argument(port: int) -> None:
    with pytest.raises(ETPInvalidArgument, match="port must be 0-65535"):
        EmbeddedServer(port=port)


def test_bad_arguments_are_one_line_errors(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """No traceback: a port out of range or in use, a message size below the minimum."""
    taken = harness.server().port
    for argv, says in (
        (["--port", "70000"], "port must be 0-65535"),
        (["--port", "0", "--max-message-size", "1"], "max_message_size must be at least"),
        (["--port", str(taken)], f"cannot listen on 127.0.0.1:{taken}"),
    ):
        assert server_main.main([*argv, "--log-level", "critical"]) == EXIT_USAGE, argv
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("python -m etp_sync.server: ETPInvalidArgument: " + says)


def test_an_unknown_log_level_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_serve(args: argparse.Namespace, on_ready: Callable[[str], None]) -> int:
        raise AssertionError(f"served with --log-level {args.log_level!r}")

    monkeypatch.setattr(server_main, "serve", no_serve)
    with pytest.raises(SystemExit) as exited:
        server_main.main(["--log-level", "BOGUS"])
    assert exited.value.code == EXIT_USAGE
    assert "argument --log-level: invalid choice: 'BOGUS'" in capsys.readouterr().err
    assert server_main.build_parser().parse_args(["--log-level", "debug"]).log_level == "DEBUG"
