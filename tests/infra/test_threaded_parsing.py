"""Python source parsed on several threads at once (tests/conftest.py serialises
``ast.parse``): Python 3.11's AST constructor keeps its recursion counter per interpreter,
so two parses interleaved by a thread switch (here forced by finalizers run by the garbage
collector mid-parse) raised "SystemError: AST constructor recursion depth mismatch"."""

from __future__ import annotations

import ast
import sys
import threading

SOURCE = "\n".join(f"x{i} = [{', '.join(map(str, range(20)))}]" for i in range(300))


class _Finalised:
    """Garbage whose collection runs Python code, where the interpreter may switch threads."""

    other: _Finalised

    def __del__(self) -> None:
        sum(range(50))


def _parse_repeatedly(errors: list[BaseException]) -> None:
    for _ in range(100):
        first, second = _Finalised(), _Finalised()
        first.other, second.other = second, first
        del first, second
        try:
            ast.parse(SOURCE)
        except SystemError as exc:
            errors.append(exc)
            return


def test_two_threads_parse_at_once_without_error():
    errors: list[BaseException] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=_parse_repeatedly, args=(errors,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
