# tests/: unit tests (C, TAP) and end-to-end tests (Python, TAP).
