"""Packaging hook: the wheel carries ``migrations/*.sql`` as ``daemon/migrations_sql/``.

``migrations/`` at the repository root stays the one source of truth (the layout the
project documents); a checkout reads it there, an installed package from its copy.
Everything else about the package is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithMigrations(build_py):
    def run(self) -> None:
        # A fresh package each build: pip reuses a source tree's build/, and a module
        # removed upstream would otherwise ride along into the new wheel (issue 17).
        shutil.rmtree(Path(self.build_lib) / "daemon", ignore_errors=True)
        super().run()
        target = Path(self.build_lib) / "daemon" / "migrations_sql"
        # A fresh copy each build: a renamed or removed migration must not linger in build/.
        shutil.rmtree(target, ignore_errors=True)
        self.mkpath(str(target))
        for sql in sorted((HERE / "migrations").glob("*.sql")):
            self.copy_file(str(sql), str(target / sql.name))


setup(cmdclass={"build_py": BuildPyWithMigrations})
