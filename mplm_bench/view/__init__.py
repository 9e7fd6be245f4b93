"""`mplm-bench view`: a self-contained HTML trace viewer for runs (data.py, page.py, build.py, server.py)."""
