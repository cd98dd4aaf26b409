"""Use cases of the application.

Services change the session and ``flush`` but never ``commit``: the view (or CLI
command) that called them commits once, so a failed request changes nothing.
"""
