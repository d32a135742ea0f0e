"""Web UI (Jinja2 + htmx, zh-CN first) and the REST API shell."""
