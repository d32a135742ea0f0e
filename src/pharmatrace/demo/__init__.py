"""The demo plant."""
