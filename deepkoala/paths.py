"""Where deepkoala keeps files: `$DEEPKOALA_HOME`, by default in the Keras cache."""

import os


def deepkoala_home():
    """The folder for deepkoala's weights and caches (not created here).

    `$DEEPKOALA_HOME` if set, else a `deepkoala` folder in the Keras cache
    (`$KERAS_HOME`, by default `~/.keras`).

    Example:
    >>> import os
    >>> os.environ["DEEPKOALA_HOME"] = "/tmp/koala"
    >>> deepkoala_home()
    '/tmp/koala'
    >>> del os.environ["DEEPKOALA_HOME"]
    """
    if os.environ.get("DEEPKOALA_HOME"):
        return os.path.abspath(os.path.expanduser(os.environ["DEEPKOALA_HOME"]))
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(os.path.abspath(keras_home), "deepkoala")
