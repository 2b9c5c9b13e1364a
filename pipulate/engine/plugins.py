"""Plugin discovery: every `plugins/NNN_name.py`, in prefix order, defines one workflow."""

import importlib.util
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .workflow import Workflow

log = logging.getLogger(__name__)

PLUGIN_FILE = re.compile(r"^(\d{3})_([A-Za-z0-9_]+)\.py$")


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin file that failed to import or construct, kept to show in the menu."""

    path: Path
    error: str

    @property
    def label(self) -> str:
        return PLUGIN_FILE.match(self.path.name).group(2).replace("_", " ").capitalize()


def plugin_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.py") if PLUGIN_FILE.match(p.name))


def load_plugins(folder: Path, pipulate) -> tuple[list[Workflow], list[BrokenPlugin]]:
    """Import and construct each plugin; a failure is logged and recorded, the rest still load."""
    workflows, broken = [], []
    if not plugin_files(folder):
        log.warning("No plugins found in %s: the app has no workflow to offer.", folder)
    for path in plugin_files(folder):
        try:
            workflow = _load(path, pipulate)
            if any(w.app_name == workflow.app_name for w in workflows):
                raise ValueError(f"app name {workflow.app_name!r} is already taken")
        except (Exception, SystemExit) as error:
            log.error("Plugin %s failed to load: %s: %s", path.name, type(error).__name__, error,
                      exc_info=error)
            broken.append(BrokenPlugin(path, f"{type(error).__name__}: {error}"))
            continue
        workflows.append(workflow)
        log.info("Plugin %s loaded as /%s.", path.name, workflow.app_name)
    return workflows, broken


def _load(path: Path, pipulate) -> Workflow:
    name = f"pipulate_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    classes = [
        value for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Workflow)
        and value.__module__ == name and value.app_name
    ]
    if len(classes) != 1:
        raise TypeError(f"expected one Workflow class with an app_name, found {len(classes)}")
    return classes[0](pipulate)
