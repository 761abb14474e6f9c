"""`pip_target`: a whole hash-pinned lock installed into one site-packages, one py_library each.

    pip_target = use_extension("//tools/pip:extensions.bzl", "pip_target")
    pip_target.install(name = "pypi_airflow", requirements_lock = "//third_party/python:airflow.lock")
    use_repo(pip_target, "pypi_airflow")

rules_python 0.22.1's `pip.parse` runs pip once per wheel, each in a repository of its own (110 s
for the server image's wheels on 2 cores, against 44 s for the whole lock here, in every new output
base), and cannot load dependency cycles, which Airflow has (apache-airflow-core <->
apache-airflow-task-sdk). This installs the lock as pip would into a virtualenv (`pip install
--no-deps --require-hashes --target`), then gives every distribution a py_library of the files its
RECORD lists and the dependencies its METADATA declares (tools/pip/private/hub.py). `@pypi//numpy`
works as with `pip.parse`, extras are `@pypi_airflow//moto:server`, what a wheel installs into bin/
is `@pypi//ruff:bin`, and a cycle becomes one library all its members alias.

An install is made once per build-root cache (else per user) and lock: every later output base (a
fresh clone, a test's nested build) takes hard links to it, or a copy where links cannot go
(tools/pip/private/installed_sites.py): for the server lock, 1.5 s of links against 34 s of pip.
"""

def _locked_entry(text, name):
    """The lock's lines for one package: its `name==version \\` line and the --hash lines after it."""
    lines, found = [], False
    for line in text.splitlines():
        if line.startswith(name + "=="):
            found = True
        elif found and not line.startswith("    --hash"):
            break
        if found:
            lines.append(line)
    if not lines:
        fail("pip_target: %s is not in the lock; sdists need it to build" % name)
    return "\n".join(lines).rstrip(" \\") + "\n"

def _pip(rctx, arguments, environment, quiet = False):
    return rctx.execute(
        [rctx.which("python3"), "-m", "pip"] + arguments + ["--quiet", "--disable-pip-version-check"],
        environment = environment,
        timeout = 3600,
        quiet = quiet,
    )

# Adds the files of $1 that $2 lacks, each under a temporary name first, so that another output
# base reading $2 at the same time never sees half a wheel.
_PUBLISH = """
mkdir -p "$2"
for file in "$1"/*; do
  name=${file##*/}
  [ -e "$2/$name" ] || { cp "$file" "$2/.$name.$$" && mv -f "$2/.$name.$$" "$2/$name"; }
done
"""

def _pip_install(rctx, target, requirements, environment = {}):
    """Installs a hashed lock from the user's wheelhouse, or downloads it and fills the wheelhouse.

    Bazel's repository cache keeps what a repository rule downloads, not what pip does, and pip's
    own cache keeps a wheel only when the index sends caching headers (a mirror may send none), so
    every new output base (a fresh clone, a test's nested build) downloaded both locks again: 30
    of the 42 s the server lock took. The wheelhouse, ~/.cache/pip-target-wheelhouse, is shared by
    every output base of the user; --require-hashes checks each file taken from it.
    """
    wheelhouse = rctx.os.environ.get("HOME", "/nonexistent") + "/.cache/pip-target-wheelhouse"
    options = ["--no-deps", "--require-hashes", "--requirement", str(requirements)]
    install = ["install", "--no-compile", "--no-build-isolation", "--no-index", "--target", target] + options
    if _pip(rctx, install + ["--find-links", wheelhouse], environment, quiet = True).return_code == 0:
        return

    # Something is missing from the wheelhouse (a first run, a new pin): the whole lock goes to a
    # folder of this repository's, from the index or the wheelhouse, and is installed from there.
    rctx.delete(target)
    downloads = str(rctx.path("downloads-" + requirements.basename))
    rctx.report_progress("pip download of %s" % requirements.basename)
    result = _pip(rctx, ["download", "--dest", downloads, "--find-links", wheelhouse] + options, environment)
    if result.return_code == 0:
        result = _pip(rctx, install + ["--find-links", downloads], environment)
    if result.return_code != 0:
        fail("pip_target: installing %s failed:\n%s" % (requirements, result.stderr[-4000:]))
    rctx.execute(["sh", "-c", _PUBLISH, "publish", downloads, wheelhouse])
    rctx.delete(downloads)

def _installed_sites(rctx, action, lock):
    """Runs installed_sites.py `restore` or `publish`; returns its exit code.

    `restore` takes the shared install of the lock (exit 0), if there is one; `publish` shares
    this repository's.
    """

    # In the build root, beside every output base (the same mount, so hard links reach them);
    # elsewhere, the user's cache.
    buildroot_cache = rctx.os.environ.get("BAZEL_BUILDROOT_CACHE")
    if buildroot_cache:
        sites = buildroot_cache + "/output/pip-target-sites"
    else:
        sites = rctx.os.environ.get("HOME", "/nonexistent") + "/.cache/pip-target-sites"
    command = [rctx.which("python3"), rctx.path(rctx.attr._installed_sites), action, sites, lock, "site-packages"]
    return rctx.execute(command, quiet = False).return_code

def _pip_target_repository_impl(rctx):
    lock = rctx.path(rctx.attr.requirements_lock)
    text = rctx.read(lock)

    rctx.report_progress("Linking the installed %s" % rctx.attr.requirements_lock.name)
    if _installed_sites(rctx, "restore", lock) != 0:
        # Sdists in the lock (antlr4-python3-runtime) build without isolation, with the lock's own
        # setuptools (which builds wheels itself), installed first: nothing unpinned is fetched.
        rctx.report_progress("pip install of the build backends pinned in %s" % rctx.attr.requirements_lock.name)
        rctx.file("build-requirements.txt", "".join([_locked_entry(text, name) for name in ("setuptools",)]))
        _pip_install(rctx, "build-backend", rctx.path("build-requirements.txt"))

        rctx.report_progress("pip install --target of %s" % rctx.attr.requirements_lock.name)
        _pip_install(rctx, "site-packages", lock, environment = {"PYTHONPATH": str(rctx.path("build-backend"))})
        rctx.delete("build-backend")
        _installed_sites(rctx, "publish", lock)

    for top_level in rctx.attr.exclude_top_level:
        rctx.delete("site-packages/" + top_level)

    # One py_library per distribution, with the dependencies its metadata declares, so a binary's
    # runfiles (and so its image) hold only its own closure, as with pip.parse.
    rctx.report_progress("Writing the BUILD files of %s" % rctx.attr.name)
    result = rctx.execute([rctx.which("python3"), rctx.path(rctx.attr._hub), "site-packages"], quiet = False)
    if result.return_code != 0:
        fail("pip_target: writing the hub's BUILD files failed:\n%s" % result.stderr[-4000:])

_pip_target_repository = repository_rule(
    implementation = _pip_target_repository_impl,
    doc = "A hash-pinned lock installed with `pip install --target`, one alias package per locked name.",
    attrs = {
        "exclude_top_level": attr.string_list(doc = "Top-level names to delete from site-packages after the install."),
        "requirements_lock": attr.label(mandatory = True, allow_single_file = True, doc = "A lock with --hash for every pin."),
        "_hub": attr.label(default = "//tools/pip/private:hub.py", allow_single_file = True, doc = "The BUILD file writer."),
        "_installed_sites": attr.label(
            default = "//tools/pip/private:installed_sites.py",
            allow_single_file = True,
            doc = "Shares installed locks between output bases.",
        ),
    },
)

def _pip_target_impl(module_ctx):
    for mod in module_ctx.modules:
        for install in mod.tags.install:
            _pip_target_repository(
                name = install.name,
                exclude_top_level = install.exclude_top_level,
                requirements_lock = install.requirements_lock,
            )

pip_target = module_extension(
    implementation = _pip_target_impl,
    tag_classes = {"install": tag_class(attrs = {
        "name": attr.string(mandatory = True, doc = "The repository (hub) to create."),
        "requirements_lock": attr.label(mandatory = True, doc = "A lock with --hash for every pin."),
        "exclude_top_level": attr.string_list(
            doc = "Top-level names to delete from site-packages after the install, for wheels that " +
                  "ship a stray package (e.g. `tools`) that would shadow a first-party one.",
        ),
    })},
    doc = "Installs a hash-pinned lock into one site-packages repository.",
)
