"""How much one withdrawal is scored on: beyond these it is held for review (errors.OverLimit).

Each symbol is one chart and one endpoint call (4 at a time), and every trade of the window is
read from the table before the first chart: the caps keep one withdrawal inside the function's
time budget. An account beyond them is an unusual one a person should look at anyway.
"""

from __future__ import annotations

MAX_SYMBOLS_PER_WITHDRAWAL = 20
MAX_TRADES_PER_WINDOW = 20_000
