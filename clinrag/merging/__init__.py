"""Model merging (mergekit): recipes in mergekit's YAML format, input checks before any weight is read, and
merged model folders that record how they were made. ``clinrag merge`` and an experiment's ``merge`` field."""

from clinrag.merging.build import RECORD_FILE, build_merge, folder_sha256, input_hashes
from clinrag.merging.recipe import ModelInput, Recipe, load_recipe, recipe_from_mapping

__all__ = [
    "RECORD_FILE",
    "ModelInput",
    "Recipe",
    "build_merge",
    "folder_sha256",
    "input_hashes",
    "load_recipe",
    "recipe_from_mapping",
]
