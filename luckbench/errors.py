"""The one exception type for bad user input.

It subclasses ``ValueError`` so library callers can catch the usual type; the CLI turns it
(and ``FileNotFoundError``) into a one-line message on stderr and exit code 2.
"""


class InputError(ValueError):
    """Bad input: an impossible width, an unknown name, NaN weights, a corrupt file, ...

    The message must name the offending argument or file, in one line.
    """
