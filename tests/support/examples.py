"""How many examples a property test draws. `make mutation` runs every test that reached
a surviving mutant, once a mutant, so there a property test draws a quarter of its
examples (the driver sets STOCKROOM_MUTATION); everywhere else, all of them."""

import os


def examples(count: int) -> int:
    return max(count // 4, 1) if os.environ.get("STOCKROOM_MUTATION") else count
