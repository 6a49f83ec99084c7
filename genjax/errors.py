"""The one exception type that user-facing entry points turn into a one-line message."""


class ConfigError(ValueError):
    """A bad config value, missing file or unprepared dataset.

    The message is a single sentence that names the offending field (for example
    ``data.batch_size``) and says what is allowed. ``experiments/*.py`` print it
    on one line and exit non-zero, without a traceback.
    """


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; the message names the step and the metric.

    The run stops before saving anything from the diverged trajectory, so the
    last good checkpoint stays intact and a resume restarts from it.
    """
