"""Types of the optional compiled scan of a data object (see _xmlscan_c.c)."""

def scan(
    data: bytes, fields: tuple[str, ...], /
) -> tuple[str, dict[str, str], dict[str, str]] | None: ...
