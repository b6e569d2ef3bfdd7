"""The Start page and the recipes: set a recipe's data, model and settings up, and train it once its data has loaded."""

from __future__ import annotations

from genstudio.core.recipes import Recipe, load_recipes


class RecipeStartMixin:
    """Recipes of MainWindow (a mixin: it fills the window's Data and Model panels)."""

    def show_start_page(self) -> None:
        self.start_dock.show()
        self.start_dock.raise_()

    # -- recipes --------------------------------------------------------------------------
    def apply_recipe(self, recipe: Recipe | str) -> bool:
        """Choose a recipe's dataset, model and settings (the tab it names opens once its run starts)."""
        if isinstance(recipe, str):
            recipe = load_recipes().recipes.get(recipe)
        if recipe is None or self.session is not None:
            return False
        self.model_panel.set_read_only(None)
        self.dataset_panel.select(recipe.dataset)
        if recipe.data:
            self.dataset_panel.options_form.set_values(recipe.data)
            self.dataset_panel.reload()
        if not self.model_panel.apply_recipe(recipe):
            return False
        self._pending_tab = recipe.tab
        self._update_actions()
        return True

    def train_recipe(self, recipe_id: str) -> bool:
        """One click on the Start page: set the recipe up, and train as soon as its data has loaded."""
        if not self.apply_recipe(recipe_id):
            return False
        self._pending_recipe_train = True
        self._train_when_ready()
        return True

    def _train_when_ready(self) -> None:
        if not self._pending_recipe_train or self.session is not None:
            return
        if self.dataset_panel.is_loading() or self.dataset_panel._debounce.isActive():
            return  # _on_dataset_state calls again when it has loaded
        self._pending_recipe_train = False
        self.start_training()

