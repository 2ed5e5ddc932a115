"""Running untrusted student code in a separate, limited process.

* :mod:`~autograder.sandbox.codec`: the no-pickle wire format (JSON header + raw buffers).
* :mod:`~autograder.sandbox.worker`: the process that imports and runs a student's module.
* :mod:`~autograder.sandbox.isolation`: what this machine offers (bubblewrap, uid drop, rlimits).
* :mod:`~autograder.sandbox.zygote`: one per sandbox, forks a fresh worker per part.
* :mod:`~autograder.sandbox.launcher`: starting, talking to and killing workers and sandboxes.
* :mod:`~autograder.sandbox.remote`: :class:`RemoteBackend`, the harness-side proxies.

This package's ``__init__`` stays import-free: the worker imports
``autograder.sandbox.worker`` inside the sandbox, where only NumPy, the
standard library and the ``autograder`` package exist.
"""


def __getattr__(name):
    if name == "RemoteBackend":
        from autograder.sandbox.remote import RemoteBackend

        return RemoteBackend
    raise AttributeError(name)
