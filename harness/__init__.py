"""Starting and stopping real servers, written once for tests/ and bench/.

Not shipped: it lives at the repository's root, outside src/, so the wheel
carries no test tooling, while both users import it from the root of a
checkout (pytest puts the root on sys.path for the ``tests`` package;
``python -m bench`` runs from the root).
"""
