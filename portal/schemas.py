"""Schemas shared by the API's routers: the one error shape."""

from ninja import Field, Schema


class FieldError(Schema):
    field: str
    code: str
    message: str


class ErrorOut(Schema):
    code: str = Field(description="Machine-readable, e.g. invalid, username_taken.")
    message: str
    field: str | None = Field(default=None, description="The field at fault, when there is one.")
    errors: list[FieldError] = Field(default_factory=list)
