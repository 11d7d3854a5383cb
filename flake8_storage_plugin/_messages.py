"""The STG message table: one `str.format` template per code and variant."""

from __future__ import annotations

from typing import Final

STG001: Final = "STG001 '{target}' is private to {package}; import from {package} instead"
STG002: Final = "STG002 '{target}' is deprecated; use 'from {package} import {replacement}'"
STG003: Final = (
    "STG003 '{cls}' constructed outside a composition root; "
    "take the instance the composition root passes in"
)
STG004_PRIVATE: Final = (
    "STG004 dynamic import of '{target}', which is private to {package}; "
    "import from {package} instead"
)
STG004_DEPRECATED: Final = (
    "STG004 dynamic import of deprecated '{target}'; use 'from {package} import {replacement}'"
)
STG005: Final = (
    "STG005 '{name}' imported from '{module}', not from the facade; "
    "use 'from {package} import {name}'"
)
STG006: Final = (
    "STG006 '{cls}' constructed a second time in this composition root "
    "(first construction on line {first})"
)
