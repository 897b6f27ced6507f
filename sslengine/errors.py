"""The errors every layer shares: bad input, which names the field and what is allowed, and a run that diverged."""


class ConfigError(ValueError):
    """Bad input: names the field and what is allowed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class Diverged(ArithmeticError):
    """Training left the numbers: the loss became NaN or infinite. The run fails with this one line, its scalars
    kept; no traceback, since the settings, not the code, are at fault."""

    def __init__(self, value: float, step: int):
        super().__init__(f"loss became {value} at step {step}: lower the learning rate or the loss weights")
