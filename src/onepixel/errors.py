"""The exceptions onepixel raises for problems a user can fix (the CLI prints them as one line)."""


class OnepixelError(ValueError):
    """Base class: something about the input, the model or the data is wrong; the message says how to fix it."""


class InputError(OnepixelError):
    """Images, labels, targets or options that cannot be attacked as given."""


class ModelError(OnepixelError):
    """A model that cannot be loaded, raises, or returns unusable scores (NaN, inf, wrong shape)."""


class DataError(OnepixelError):
    """A dataset that cannot be found, downloaded, verified or read."""
