"""Reading the intake form strictly: text that is not valid UTF-8 is refused, never guessed.

Starlette quietly decodes a multipart text field that is not valid in its charset
as Latin-1, and a percent-encoded field with replacement characters: a phone
sending bytes of another encoding would store a garbled note. Here such a form
is a :class:`DashboardInputError` naming the field.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartParser
from starlette.requests import Request

from plurictl.dashboard.errors import DashboardInputError

NOT_UTF8 = "the form's {field} is not UTF-8 text: type it again on the dashboard's page"


class _StrictParts(MultiPartParser):
    """Starlette's multipart parser, noting text fields its charset cannot decode."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.undecodable: list[str] = []

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode(self._charset or "utf-8")
            except (UnicodeDecodeError, LookupError):
                self.undecodable.append(part.field_name)
        super().on_part_end()


async def read_form(
    request: Request, *, max_fields: int, max_part_size: int
) -> tuple[dict[str, str], bytes | None]:
    """(text fields, photo bytes or None) of a multipart or urlencoded form.

    DashboardInputError if a text field is not valid UTF-8 (in its declared charset);
    other exceptions (malformed bodies) are the parser's own.
    """
    kind, _ = parse_options_header(request.headers.get("content-type", ""))
    if kind == b"multipart/form-data":
        parser = _StrictParts(
            request.headers,
            request.stream(),
            max_files=1,
            max_fields=max_fields,
            max_part_size=max_part_size,
        )
        data = await parser.parse()
        try:
            if parser.undecodable:
                raise DashboardInputError(NOT_UTF8.format(field=parser.undecodable[0]))
            values = {k: v for k, v in data.items() if isinstance(v, str)}
            upload = data.get("photo")
            photo = await upload.read() if isinstance(upload, UploadFile) else None
        finally:
            await data.close()
        return values, photo
    body = await request.body()
    if kind != b"application/x-www-form-urlencoded":
        return {}, None
    try:
        pairs = parse_qsl(body.decode("utf-8"), max_num_fields=max_fields, errors="strict")
    except UnicodeDecodeError:
        raise DashboardInputError(NOT_UTF8.format(field="text")) from None
    return dict(pairs), None
