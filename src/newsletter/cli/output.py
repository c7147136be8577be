"""The rich consoles of the commands that print tables, progress bars and markup.

Apart from common.py: `bulletin send` prints two plain lines, and importing rich (~30 ms)
would delay its first batch.
"""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
