"""The test matrix of `make test-all` (which runs lint and types once itself).

Every session installs the versions in uv.lock, the ones `make test` tests on Python 3.11.
"""

from __future__ import annotations

import nox
from packaging.requirements import Requirement

nox.options.default_venv_backend = "uv"
# A missing interpreter is skipped (an error when CI is set): never replaced by a download.
nox.options.download_python = "never"
nox.options.reuse_venv = "yes"

PYPROJECT = nox.project.load_toml("pyproject.toml")
# The interpreters the classifiers promise: 3.10 to 3.13.
PYTHONS = nox.project.python_versions(PYPROJECT)


def _sync_locked(session: nox.Session) -> None:
    location = session.virtualenv.location
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-default-groups",
        "--group=test",
        # tests/test_docs.py reads the API reference with griffe, which the docs tools bring.
        "--group=docs",
        f"--python={location}",
        env={"UV_PROJECT_ENVIRONMENT": location},
    )


def _declared_minimums() -> list[str]:
    pins = []
    for dependency in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(dependency)
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(floors) != 1:
            raise ValueError(f"{dependency}: a runtime dependency needs one '>=' floor")
        pins.append(f"{requirement.name}=={floors[0]}")
    return pins


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole test suite."""
    _sync_locked(session)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHONS[0])
def minimum(session: nox.Session) -> None:
    """The test suite on the lowest versions of the runtime dependencies that pyproject allows.

    On the oldest Python, as a user pinned to old releases most likely is; the test tools keep
    their locked versions.
    """
    _sync_locked(session)
    session.run_install("uv", "pip", "install", *_declared_minimums())
    # The test tools' own requirements must still hold beside the minimums.
    session.run_install("uv", "pip", "check")
    session.run("pytest", *session.posargs)
