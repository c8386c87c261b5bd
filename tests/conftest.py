"""What tests in several folders share: running the command line as a user meets it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from robustreid.cli.main import main


@pytest.fixture
def user_error(capsys) -> Callable[[Sequence[str]], str]:
    """``user_error(argv)`` runs ``robustreid argv``, which must fail as a user's mistake.

    That is: exit 2, exactly one line ``robustreid <command>: error: ...``, no traceback.
    Returns all of stderr (a layout error draws the expected tree below its error line).
    """

    def run(argv: Sequence[str]) -> str:
        code = main(list(argv))
        err = capsys.readouterr().err
        assert code == 2, err
        assert "Traceback" not in err, err
        error_lines = [line for line in err.splitlines() if ": error: " in line]
        assert len(error_lines) == 1 and error_lines[0].startswith(f"robustreid {argv[0]}: error: "), err
        return err

    return run
