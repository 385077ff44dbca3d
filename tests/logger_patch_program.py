"""Every way a program or its tests touch a submodule's logger, before and after the library's first log call.

    python logger_patch_program.py

Imported as upstream code does (``from pyngrok import ngrok``), the submodules hold stand-ins for their
loggers, and ``logging`` is not imported. Each case runs twice: in a forked child while the stand-ins are
still in place, and in this process after the first log call. Each patches a logger (``mock.patch`` as a
context manager and as a decorator, ``patch.object`` on the submodule and on the logger, ``monkeypatch`` of
the logger and of its level), checks that the library's own code logs through the patched value, and after
the undo that the submodule and the library hold the same logger again and that the library's records reach a
real handler. One more case, in a child only, shows the documented difference with ``logging.config``. It
prints ``ok``, or the failures.
"""

from __future__ import annotations

import copy
import os
import pickle
import sys
import traceback
from typing import Any, Callable, Dict, List

import pyngrok
from pyngrok import ngrok, process
from pyngrok.conf import PyngrokConfig

assert "logging" not in sys.modules, "imported by from pyngrok import ngrok"
assert type(vars(ngrok)["logger"]) is pyngrok._LazyLogger, vars(ngrok)["logger"]

import logging  # noqa: E402  (after the check above)
from unittest import mock  # noqa: E402  (imports logging)

import pytest  # noqa: E402

# Not yet the library's first log call: the program imports logging, and the stand-ins stay.
records: List[logging.LogRecord] = []


class Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        records.append(record)


logging.getLogger("pyngrok").addHandler(Keep())
logging.getLogger("pyngrok").setLevel(logging.DEBUG)
NO_AGENT = PyngrokConfig(ngrok_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "no-such-ngrok"))
MESSAGE = f"ngrok_path {NO_AGENT.ngrok_path} is not running a process"


def library_logs() -> None:
    """The library's own code logs one debug record on the ``pyngrok.ngrok`` logger (no agent needed)."""
    ngrok.disconnect("https://example.invalid", pyngrok_config=NO_AGENT)


def assert_logs_to_the_real_logger(original: Any) -> None:
    """After an undo: one logger in the submodule and the library, the original one until the first log call
    (then the real one), and a library record reaches the real handler."""
    real = logging.getLogger("pyngrok.ngrok")
    held = vars(ngrok)["logger"]
    assert held is pyngrok._api_logger, (held, pyngrok._api_logger)
    assert held is (real if pyngrok._real_loggers_in_place else original), (held, original)
    del records[:]
    library_logs()
    assert [(r.name, r.levelname, r.getMessage()) for r in records] == [("pyngrok.ngrok", "DEBUG", MESSAGE)], records
    assert ngrok.logger is pyngrok._api_logger is real and type(real) is logging.Logger
    assert "debug" not in vars(real) and real.level == logging.NOTSET


def patch_as_context_manager() -> None:
    original = ngrok.logger
    with mock.patch("pyngrok.ngrok.logger") as replacement:
        assert ngrok.logger is pyngrok._api_logger is replacement
        library_logs()
        replacement.debug.assert_called_once_with("ngrok_path %s is not running a process", NO_AGENT.ngrok_path)
    assert_logs_to_the_real_logger(original)


def patch_as_decorator() -> None:
    original = ngrok.logger

    @mock.patch("pyngrok.ngrok.logger")
    def patched(replacement: mock.MagicMock) -> None:
        assert pyngrok._api_logger is replacement
        library_logs()
        assert replacement.debug.call_count == 1

    patched()
    assert_logs_to_the_real_logger(original)


def patch_object_on_the_submodule() -> None:
    original = ngrok.logger
    with mock.patch.object(ngrok, "logger", autospec=True) as replacement:
        assert pyngrok._api_logger is replacement
        library_logs()
        replacement.debug.assert_called_once_with("ngrok_path %s is not running a process", NO_AGENT.ngrok_path)
    assert_logs_to_the_real_logger(original)


def patch_object_on_the_logger() -> None:
    original = ngrok.logger
    with mock.patch.object(ngrok.logger, "debug") as debug:
        library_logs()
        debug.assert_called_once_with("ngrok_path %s is not running a process", NO_AGENT.ngrok_path)
    assert_logs_to_the_real_logger(original)


def monkeypatch_the_logger() -> None:
    original = ngrok.logger
    calls: List[Any] = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(ngrok, "logger", mock.Mock(debug=lambda *args: calls.append(args)))
        library_logs()
        assert calls == [("ngrok_path %s is not running a process", NO_AGENT.ngrok_path)], calls
    assert_logs_to_the_real_logger(original)


def monkeypatch_the_level() -> None:
    original, real = ngrok.logger, logging.getLogger("pyngrok.ngrok")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(ngrok.logger, "level", logging.ERROR)
        assert real.level == logging.ERROR and pyngrok._api_logger.getEffectiveLevel() == logging.ERROR
    assert real.level == logging.NOTSET
    real.setLevel(logging.NOTSET)  # logging caches isEnabledFor's answers; writing .level itself leaves them
    assert_logs_to_the_real_logger(original)


def use_the_logger_api() -> None:
    """What a program does with a submodule's logger without patching it: the stand-in acts on the real one."""
    logger, real = ngrok.logger, logging.getLogger("pyngrok.ngrok")
    assert (logger.name, logger.level) == ("pyngrok.ngrok", logging.NOTSET)
    extra = logging.NullHandler()
    logger.setLevel(logging.INFO)
    logger.addHandler(extra)
    assert real.level == logging.INFO and extra in real.handlers
    logger.removeHandler(extra)
    logger.setLevel(logging.NOTSET)
    assert isinstance(logger, logging.Logger) and isinstance(process.ngrok_logger, logging.Logger)
    assert copy.copy(logger) is copy.deepcopy(logger) is pickle.loads(pickle.dumps(logger)) is real
    assert process.ngrok_logger is logging.getLogger("pyngrok.process.ngrok") is pyngrok._agent_logger
    assert_logs_to_the_real_logger(logger)


def dict_config_before_the_first_log_call() -> None:
    """The documented difference: a ``dictConfig`` that disables the existing loggers, made while the library's
    are stand-ins, finds no ``pyngrok.ngrok`` logger to disable (upstream's, made at import, would be)."""
    import logging.config

    logging.config.dictConfig({"version": 1, "disable_existing_loggers": True})
    del records[:]
    library_logs()
    assert [r.getMessage() for r in records] == [MESSAGE] and not ngrok.logger.disabled, records


# Run only in a forked child, while the loggers are stand-ins: what it changes would stay in this process.
BEFORE_ONLY = {dict_config_before_the_first_log_call.__name__: dict_config_before_the_first_log_call}

CASES: Dict[str, Callable[[], None]] = {
    case.__name__: case
    for case in (
        patch_as_context_manager,
        patch_as_decorator,
        patch_object_on_the_submodule,
        patch_object_on_the_logger,
        monkeypatch_the_logger,
        monkeypatch_the_level,
        use_the_logger_api,
    )
}


def run(name: str, when: str) -> str:
    try:
        {**CASES, **BEFORE_ONLY}[name]()
    except BaseException:
        return f"{name} {when}:\n{traceback.format_exc()}"
    return ""


def run_in_forked_child(name: str) -> str:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.write(write_end, run(name, "before the first log call").encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as child:
        failure = child.read().decode()
    _, status = os.waitpid(pid, 0)
    return failure or ("" if status == 0 else f"{name}: the child ended with status {status}")


def main() -> int:
    failures = [run_in_forked_child(name) for name in (*CASES, *BEFORE_ONLY)]
    assert not pyngrok._real_loggers_in_place, "a forked case changed this process"
    library_logs()  # the first log call
    assert type(ngrok.logger) is logging.Logger and type(vars(process)["ngrok_logger"]) is logging.Logger
    failures += [run(name, "after the first log call") for name in CASES]
    failures = [failure for failure in failures if failure]
    print("\n".join(failures) or "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
