"""Distribution, read-and-understood acknowledgements and printed copies (TJ-9.2)."""
