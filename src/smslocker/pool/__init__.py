"""The pool of numbers: lifecycle, import, selection, service tags and health."""
