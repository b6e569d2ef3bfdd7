"""Training → Hand to cluster…: the configured run as a config file, a torchrun command and a SLURM script.

The texts come from ``genstudio.core.cluster`` (Qt-free, tested there); this
dialog only collects the cluster settings, shows the texts as they change,
and copies or saves them. It is window-modal but opened with ``open()``, so
a run training meanwhile keeps drawing.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.cluster import ClusterPlan, plan_texts
from genstudio.core.config import ConfigError
from genstudio.core.spec import RunSpec

TABS = (("command", "torchrun command"), ("script", "SLURM script"), ("config", "Config (TOML)"))


class ClusterDialog(QDialog):
    """Shows what to run on a cluster for ``spec``; every field change regenerates the texts."""

    def __init__(self, spec: RunSpec, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Hand to cluster")
        self.spec = spec
        self.texts: dict[str, str] = {}
        self.error = ""
        name = f"{spec.run.model}-{spec.run.dataset}"
        default = ClusterPlan(config_path=f"{name}.toml", out=f"runs/{name}", job_name=f"genstudio-{name}")

        self.nodes = self._spin(1, 4096, default.nnodes, "Machines (SLURM nodes) to train on")
        self.procs = self._spin(1, 256, default.nproc_per_node, "Processes per node: one per GPU, or a few on a CPU node")
        self.gpus = self._spin(0, 64, default.gpus_per_node, "GPUs to request per node (0: CPU nodes)")
        self.cpus = self._spin(1, 1024, default.cpus_per_node, "CPU cores to request per node (shared by its processes)")
        self.port = self._spin(1, 65535, default.port, "Rendezvous port on the first node")
        self.device = QComboBox()
        self.device.addItems(["auto", "cuda", "cpu"])
        self.device.setToolTip("auto: the GPUs when there are some; each process takes its own GPU")
        self.device.currentTextChanged.connect(self._regenerate)
        self.config_path = self._line(default.config_path, "Where the config file will be on the cluster (the command reads it)")
        self.out = self._line(default.out, "The run folder the cluster writes (shared by the nodes, to resume)")
        self.job = self._line(default.job_name, "SLURM job name")
        self.time_limit = self._line(default.time_limit, "SLURM time limit (HH:MM:SS); the script resumes the run when requeued")
        self.partition = self._line("", "SLURM partition (empty: the cluster's default)")
        self.setup = self._line(default.setup, "Shell line that puts genstudio on PATH on the nodes")

        where = QGroupBox("Processes")
        wf = QFormLayout(where)
        wf.addRow("Nodes", self.nodes)
        wf.addRow("Processes per node", self.procs)
        wf.addRow("Device", self.device)
        wf.addRow("Rendezvous port", self.port)
        files = QGroupBox("Files")
        ff = QFormLayout(files)
        ff.addRow("Config file", self.config_path)
        ff.addRow("Run folder", self.out)
        ff.addRow("Environment", self.setup)
        slurm = QGroupBox("SLURM")
        sf = QFormLayout(slurm)
        sf.addRow("Job name", self.job)
        sf.addRow("Time limit", self.time_limit)
        sf.addRow("Partition", self.partition)
        sf.addRow("GPUs per node", self.gpus)
        sf.addRow("CPUs per node", self.cpus)
        grid = QGridLayout()
        grid.addWidget(where, 0, 0)
        grid.addWidget(files, 0, 1)
        grid.addWidget(slurm, 0, 2)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #d64541;")
        self.tabs = QTabWidget()
        self.views: dict[str, QPlainTextEdit] = {}
        self.copy_buttons: dict[str, QPushButton] = {}
        self.save_buttons: dict[str, QPushButton] = {}
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        for key, title in TABS:
            page = QWidget()
            view = QPlainTextEdit()
            view.setReadOnly(True)
            view.setFont(mono)
            view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth if key == "command" else QPlainTextEdit.LineWrapMode.NoWrap)
            copy = QPushButton("Copy")
            copy.setToolTip(f"Copy the {title} to the clipboard")
            copy.clicked.connect(lambda _=False, k=key: self.copy(k))
            row = QHBoxLayout()
            row.addStretch(1)
            if key != "command":
                save = QPushButton("Save…")
                save.setToolTip(f"Write the {title} to a file")
                save.clicked.connect(lambda _=False, k=key: self._ask_save(k))
                self.save_buttons[key] = save
                row.addWidget(save)
            row.addWidget(copy)
            lay = QVBoxLayout(page)
            lay.addWidget(view, 1)
            lay.addLayout(row)
            self.tabs.addTab(page, title)
            self.views[key] = view
            self.copy_buttons[key] = copy
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.status = QLabel()

        lay = QVBoxLayout(self)
        lay.addLayout(grid)
        lay.addWidget(self.summary)
        lay.addWidget(self.problem)
        lay.addWidget(self.tabs, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(buttons)
        lay.addLayout(bottom)
        self.resize(1000, 720)
        self._regenerate()

    # -- fields ---------------------------------------------------------------------------
    def _spin(self, lo: int, hi: int, value: int, tip: str) -> QSpinBox:
        s = QSpinBox()
        s.setRange(lo, hi)
        s.setValue(value)
        s.setToolTip(tip)
        s.valueChanged.connect(self._regenerate)
        return s

    def _line(self, value: str, tip: str) -> QLineEdit:
        e = QLineEdit(value)
        e.setToolTip(tip)
        e.textChanged.connect(self._regenerate)
        return e

    def plan(self) -> ClusterPlan:
        return ClusterPlan(
            config_path=self.config_path.text().strip(),
            out=self.out.text().strip(),
            nnodes=self.nodes.value(),
            nproc_per_node=self.procs.value(),
            device=self.device.currentText(),
            port=self.port.value(),
            job_name=self.job.text().strip(),
            time_limit=self.time_limit.text().strip(),
            partition=self.partition.text().strip(),
            gpus_per_node=self.gpus.value(),
            cpus_per_node=self.cpus.value(),
            setup=self.setup.text(),
        )

    def _regenerate(self, *_: object) -> None:
        plan = self.plan()
        try:
            self.texts = plan_texts(self.spec, plan)
            self.error = ""
        except ConfigError as e:
            self.texts, self.error = {}, str(e)
        self.problem.setText(f"Cannot make the command: {self.error}" if self.error else "")
        self.problem.setVisible(bool(self.error))
        for key, view in self.views.items():
            view.setPlainText(self.texts.get(key, ""))
            self.copy_buttons[key].setEnabled(key in self.texts)
            if key in self.save_buttons:
                self.save_buttons[key].setEnabled(key in self.texts)
        r = self.spec.run
        many = "" if plan.nnodes == 1 else " Replace MASTER_HOST with the first node's host name and run the command on every node."
        self.summary.setText(
            f"<b>{r.model}</b> on <b>{r.dataset}</b>, {r.steps:,} steps, batch {r.batch_size} per process × "
            f"{plan.world_size} process(es) = {r.batch_size * plan.world_size:,} examples per step. "
            f"Copy the config to <tt>{plan.config_path or '?'}</tt> on the cluster, then run the command or submit the script.{many}"
        )

    # -- copy and save ------------------------------------------------------------------------
    def copy(self, key: str) -> None:
        if key not in self.texts:
            return
        QGuiApplication.clipboard().setText(self.texts[key])
        self.status.setText(f"Copied the {dict(TABS)[key]} to the clipboard.")

    def save(self, key: str, path: str | Path) -> Path:
        """Write one text to ``path`` (the SLURM script is made executable)."""
        p = Path(path)
        p.write_text(self.texts[key])
        if key == "script":
            p.chmod(0o755)
        self.status.setText(f"Wrote {p}")
        return p

    def _ask_save(self, key: str) -> None:
        if key not in self.texts:
            return
        suggested = self.config_path.text().strip() if key == "config" else f"{self.job.text().strip() or 'genstudio'}.sbatch"
        box = QFileDialog(self, f"Save the {dict(TABS)[key]}", str(Path(suggested).name))
        box.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        box.fileSelected.connect(lambda p, k=key: self._save_or_report(k, p))
        box.open()

    def _save_or_report(self, key: str, path: str) -> None:
        try:
            self.save(key, path)
        except OSError as e:
            self.status.setText(f"Could not write {path}: {e}")
