"""Command-line interface: one module per command group; thin (parse, call, render)."""
