"""PharmaTrace — 药品生产全过程数字化追溯系统.

Digital traceability of drug production per DB31/T 1400-2023 (SH) and the TCM-injection EBR guide (TJ).
"""

__version__ = "0.1.0"
