"""What every benchmark part's command line shares: `--json` for `python -m bench`,
a table for a person."""

import argparse
import json
from collections.abc import Callable
from typing import Any


def harness_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def sized_command(
    run: Callable[[int], dict[str, Any]],
    print_table: Callable[[dict[str, Any]], None],
    option: str,
    default: int,
) -> None:
    """The command line of a part whose one setting is its size (`option`, e.g.
    `--requests`): runs it at that size and emits its summary."""
    parser = harness_parser()
    parser.add_argument(option, type=int, default=default)
    args = parser.parse_args()
    size = getattr(args, option.removeprefix("--").replace("-", "_"))
    emit(run(size), args.json, print_table)


def emit(
    summary: dict[str, Any], as_json: bool, print_table: Callable[[dict[str, Any]], None]
) -> None:
    if as_json:
        print(json.dumps(summary))
    else:
        print_table(summary)
