"""The installed package (`pip install .`, run by scripts/test.sh) is the one this build made:
imported by the project's Python from a directory outside the repository with no PYTHONPATH,
it comes from site-packages, every Python file equals the build tree's, and the extension
module was installed after it was last built (install rewrites the extension's RPATH, so its
bytes differ by design). A package installed before the last build fails here, rather than
testing stale code.

usage: check_installed.py PYTHON BUILD_PACKAGE_DIR
"""
import filecmp
import os
import pathlib
import subprocess
import sys
import tempfile


def main(python: str, build_dir: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    probe = "import megalide, os; print(os.path.dirname(megalide.__file__)); print(megalide.__version__)"
    with tempfile.TemporaryDirectory(prefix="megalide-import-") as cwd:
        run = subprocess.run([python, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        print(f"FAIL: `import megalide` from {cwd} with {python}:\n{run.stderr.strip()}\n"
              "install the package: bash scripts/test.sh (it runs pip install . into the project environment)")
        return 1
    installed, version = run.stdout.split()
    installed_dir = pathlib.Path(installed)
    build = pathlib.Path(build_dir)
    if "site-packages" not in installed_dir.parts:
        print(f"FAIL: megalide imported from {installed_dir}, not from site-packages")
        return 1
    names = sorted(p.name for p in build.iterdir() if p.is_file())

    def is_stale(name: str) -> bool:
        built, copied = build / name, installed_dir / name
        if not copied.is_file():
            return True
        if name.endswith(".so"):
            return copied.stat().st_mtime < built.stat().st_mtime
        return not filecmp.cmp(built, copied, shallow=False)

    stale = [n for n in names if is_stale(n)]
    if stale:
        print(f"FAIL: the installed package {installed_dir} differs from the build {build} in {stale}: "
              "run bash scripts/test.sh (pip install .) after building")
        return 1
    print(f"ok: megalide {version} imports from {installed_dir} ({len(names)} files, current with the build)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
