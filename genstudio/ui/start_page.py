"""The Start page: one card per recipe (recipes.toml), each a click away from a run that fits a laptop.

A card says what the recipe shows, how long it takes on a 2-core CPU and which
tab it opens; its button asks the window to set the recipe up and train it
(``recipeChosen``). The page knows nothing of the window: it only reads the
recipes and emits their ids.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from genstudio.core.recipes import Recipe, RecipeBook, load_recipes

CARD_WIDTH = 262


class RecipeCard(QFrame):
    chosen = Signal(str)

    def __init__(self, recipe: Recipe, parent: QWidget | None = None):
        super().__init__(parent)
        self.recipe = recipe
        self.setObjectName(f"recipe_{recipe.id}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFixedWidth(CARD_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        title = QLabel(f"<b>{recipe.title}</b>")
        title.setWordWrap(True)
        # Compact enough for the bottom strip of a 768-pixel screen: the blurb is the card's tooltip.
        facts = QLabel(f"{recipe.model} on {recipe.dataset} · {recipe.time_text} · opens the {recipe.tab} tab")
        facts.setWordWrap(True)
        facts.setStyleSheet("font-size: small;")
        self.setToolTip(recipe.blurb)
        self.button = QPushButton("Train")
        self.button.setToolTip(f"{recipe.blurb}\n\nChooses {recipe.dataset} and {recipe.model} with settings for a laptop and starts training ({recipe.time_text}).")
        self.button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.button.clicked.connect(lambda: self.chosen.emit(recipe.id))
        # The button beside the title, the facts under both: the card stays short.
        lay = QGridLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setVerticalSpacing(2)
        lay.addWidget(title, 0, 0)
        lay.addWidget(self.button, 0, 1, Qt.AlignmentFlag.AlignTop)
        lay.addWidget(facts, 1, 0, 1, 2)
        lay.setRowStretch(2, 1)


class StartPage(QWidget):
    """A row of recipe cards that scrolls sideways when the window is narrow."""

    recipeChosen = Signal(str)  # recipe id

    def __init__(self, book: RecipeBook | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.book = book if book is not None else load_recipes()
        self.cards: dict[str, RecipeCard] = {}
        row = QWidget()
        rl = QHBoxLayout(row)
        rl.setContentsMargins(4, 4, 4, 4)
        for rid, recipe in self.book.recipes.items():
            card = RecipeCard(recipe)
            card.chosen.connect(self.recipeChosen)
            self.cards[rid] = card
            rl.addWidget(card)
        rl.addStretch(1)
        area = QScrollArea()
        area.setWidget(row)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        intro = QLabel("Start here: each recipe picks a dataset, a model and settings that fit a laptop, and trains "
                       "(hover a card for what it shows). Or choose your own in the Data and Model panels and press Train.")
        intro.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(intro)
        lay.addWidget(area, 1)
        if not self.book.recipes:
            intro.setText("No recipes are installed (genstudio/resources/recipes.toml is missing or broken).")
