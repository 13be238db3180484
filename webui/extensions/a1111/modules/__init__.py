"""Stand-in for A1111's `modules` package, importable as `modules` when `webui/extensions/a1111` is on sys.path.

Kept empty on purpose: importing `modules` or one of its pure submodules must not load torch or build an App.
"""
