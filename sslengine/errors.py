"""The one error bad input raises, shared by every layer: it names the field and what is allowed."""


class ConfigError(ValueError):
    """Bad input: names the field and what is allowed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
