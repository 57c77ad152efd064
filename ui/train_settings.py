"""The Train lesson's settings: one frozen dataclass that is also its share-link schema (torch-free)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.arch import layer_table as lt
from core.arch import recipes
from core.arch import spec as archspec
from core.arch.jobs import job_memory_from_env, time_limit_from_env
from core.links.settings import Settings, choice, custom, flag, integer, number
from ui import state

PAGE = "train"
ARCH_NAMES = {**{k: spec.title for k, spec in archspec.PRESETS.items()}, "custom": "Custom network"}
ARCH_CHOICES = tuple(ARCH_NAMES)
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
TRAIN_SIZES = tuple(str(n) for n in recipes.TRAIN_SIZES) + ("all",)
DEFAULT_LAYERS = archspec.PRESETS["lenet5"].layers  # the custom network a session starts from


@dataclass(frozen=True)
class TrainSettings(Settings, page=PAGE):
    """The Train lesson's settings = its share link (field order = link order; keys unchanged).

    A classroom link hides every training knob but the epochs: the teacher's values are used and shown,
    and the network picker is read-only (it is drawn, disabled, offering only the teacher's network)."""

    arch: str = choice("lenet5", ARCH_NAMES, label="network")
    act: str = choice("relu", archspec.ACTIVATIONS, label="activation", hidden=True)
    opt: str = choice("adam", recipes.OPTIMIZERS, label="optimizer", hidden=True)
    lr: float = number(2e-3, lo=1e-6, hi=100.0, label="learning rate", hidden=True)
    bs: str = choice("128", tuple(str(b) for b in BATCH_SIZES), label="batch size", hidden=True)
    ep: int = integer(10, lo=1, hi=50, label="epochs")
    seed: int = integer(0, lo=0, hi=99_999, label="seed", hidden=True)
    aug: bool = flag(False, label="augmentation", hidden=True)
    sch: str = choice("constant", recipes.SCHEDULES, label="schedule", hidden=True)
    data: str = choice("shipped5k", recipes.DATASETS, label="dataset", hidden=True)
    layers: tuple = custom(DEFAULT_LAYERS, lambda k: archspec.LayersParam(k, DEFAULT_LAYERS, "custom layers"),
                           label="custom layers", hidden=True)
    n: str = choice("all", TRAIN_SIZES, label="training images", hidden=True)
    init: str = choice("default", recipes.INITS, label="initial weights", hidden=True)
    sigma: float = number(0.1, lo=0.001, hi=2.0, label="initial weights' σ", hidden=True)

    def train_config(self, dataset: str) -> recipes.TrainConfig:
        """The core's config: these values plus the preset's recipe extras and this server's limits."""
        extras = recipes.RECOMMENDED.get(self.arch, recipes.TrainConfig())
        subset = os.environ.get("CONVLAB_TRAIN_SUBSET", "").strip()  # tests and demos: a quick subset
        return recipes.TrainConfig(
            optimizer=self.opt, lr=float(self.lr), batch_size=int(self.bs), epochs=int(self.ep),
            seed=int(self.seed), augment=bool(self.aug), schedule=self.sch, dataset=dataset,
            time_limit_s=time_limit_from_env(), weight_decay=extras.weight_decay,
            label_smoothing=extras.label_smoothing, subset=int(subset) if subset.isdigit() else None,
            memory_mb=job_memory_from_env(), train_size=None if self.n == "all" else int(self.n),
            init=self.init, init_sigma=float(self.sigma),
        )

    def network(self) -> archspec.ArchSpec:
        """The network these settings describe (a preset, or the custom layers with their activation)."""
        if self.arch == "custom":
            return archspec.ArchSpec("custom", "Custom network", tuple(self.layers), activation=self.act,
                                     note="Your own stack of layers.")
        return archspec.PRESETS[self.arch]


LAYERS = TrainSettings.param("layers")


def current() -> TrainSettings:
    return state.current(TrainSettings)


def apply_recommended() -> None:
    """Preset changed (or the button): load that preset's recommended hyperparameters."""
    cfg = recipes.RECOMMENDED.get(current().arch)
    if cfg is None:
        return
    state.put(TrainSettings, opt=cfg.optimizer, lr=cfg.lr, bs=str(cfg.batch_size), ep=cfg.epochs, aug=cfg.augment,
              sch=cfg.schedule, n="all" if cfg.train_size is None else str(cfg.train_size))


def use_optimizer_default_lr() -> None:
    """Optimizer changed: start from its own usual learning rate (Adadelta's is 500× Adam's)."""
    state.put(TrainSettings, lr=recipes.DEFAULT_LR[current().opt])


def comparison_pair() -> list[archspec.ArchSpec]:
    """The chosen network and a dense one with about as many parameters (read from the settings now)."""
    spec = current().network()
    return [spec, archspec.matched_dense(lt.count_params(spec))]
