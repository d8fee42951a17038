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


def emit(
    summary: dict[str, Any], as_json: bool, print_table: Callable[[dict[str, Any]], None]
) -> None:
    if as_json:
        print(json.dumps(summary))
    else:
        print_table(summary)
