"""Named errors and warnings raised by clvmodel.

Every failure a user can act on has its own class, so that batch jobs can catch it and
notebooks show a message that says what went wrong and what to try.
"""

from __future__ import annotations


class CLVModelError(Exception):
    """Base class of every error raised by clvmodel."""


class InputError(CLVModelError, ValueError):
    """Input data or arguments break a rule (missing column, bad value, wrong unit)."""


class UsageError(InputError):
    """A command-line argument or output path is refused before any work (exit status 2)."""


class MissingColumnError(InputError, KeyError):
    """A required column is absent; the message names it and lists the columns present."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NotFittedError(CLVModelError, AttributeError):
    """A prediction was asked of a model that has not been fitted."""


class FitError(CLVModelError, RuntimeError):
    """Maximum-likelihood estimation failed.

    Attributes
    ----------
    optimizer_message : str
        The optimiser's own message, kept verbatim.
    """

    def __init__(self, message: str, optimizer_message: str = "") -> None:
        super().__init__(message)
        self.optimizer_message = optimizer_message


class NotIdentifiedError(FitError, InputError):
    """The data cannot identify the model (no repeat buyers, nobody churned, no time observed).

    Both a failed fit (exit status 4 on the command line) and a property of the input.
    """


class ModelFileError(CLVModelError, ValueError):
    """A model file is unreadable, of an unknown schema version or of the wrong model."""


class CLVModelWarning(UserWarning):
    """Base class of every warning issued by clvmodel."""


class ConvergenceWarning(CLVModelWarning):
    """The optimiser stopped without a clean convergence; estimates may be unreliable."""


class BoundaryWarning(CLVModelWarning):
    """An estimate lies at the edge of the parameter space (a parameter near 0 or infinity)."""


class HessianWarning(CLVModelWarning):
    """The Hessian at the optimum is singular or not positive definite; standard errors are NaN."""


class RejectedRowsWarning(CLVModelWarning):
    """Some input rows were rejected; the message counts them by reason."""


class InsufficientMemoryError(CLVModelError, MemoryError):
    """This machine lacks the memory a step needs; the message says how much it needs, how
    much there is, and what to do instead (checked before the step starts)."""


class EngineUnavailableError(CLVModelError):
    """The engine asked for cannot start here (pyspark not installed, no Java); the message
    says how to install what is missing."""
