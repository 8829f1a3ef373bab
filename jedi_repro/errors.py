"""The one error type the CLI turns into a one-paragraph message and a non-zero exit."""


class JediError(Exception):
    """Bad input or a failed stage, with a message that names the file or field at fault.

    Raise it (or a subclass) for anything a user can fix; ``jedi`` prints ``error: <message>`` and exits
    with status 1, without a traceback.
    """
