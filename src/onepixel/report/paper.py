"""The paper's figures, and whether a run's settings match the row they come from.

Su, Vargas & Sakurai (IEEE TEC 2019) report: the Kaggle CIFAR-10 protocol (Table IV at 1 pixel, Table V for
AllConv at 3 and 5 pixels: random images, misclassified ones included, nine targeted attacks per image, an image
"non-targeted"-fooled when any succeeded), the original CIFAR-10 nets on correctly classified images only
(Table VIII, the same nine targeted attacks per image) and the ImageNet experiment (BVLC AlexNet, one
untargeted attack per random image). All with DE/rand/1, F = 0.5, population 400, at most 100 generations.
A figure of ours sits beside the paper's only where the run's settings match that row; otherwise the report
says why it is not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..campaign.config import search_config, upgraded
from ..campaign.metrics import ANY_TARGET
from ..search.de import DifferentialEvolution

# metric kinds (see onepixel.campaign.metrics) -> the paper's figure, per (table, network, pixels)
PAPER: dict[tuple[str, str, int], dict[tuple[str, str], float]] = {
    ("Table IV", "allconv", 1): {(ANY_TARGET, "rate"): 0.6871, ("targeted", "rate"): 0.1982, (ANY_TARGET, "confidence"): 0.7940},
    ("Table IV", "nin", 1): {(ANY_TARGET, "rate"): 0.7166, ("targeted", "rate"): 0.2315, (ANY_TARGET, "confidence"): 0.7502},
    ("Table IV", "vgg16", 1): {(ANY_TARGET, "rate"): 0.6353, ("targeted", "rate"): 0.1648, (ANY_TARGET, "confidence"): 0.6767},
    ("Table V", "allconv", 3): {(ANY_TARGET, "rate"): 0.8653, ("targeted", "rate"): 0.4057},
    ("Table V", "allconv", 5): {(ANY_TARGET, "rate"): 0.8634, ("targeted", "rate"): 0.4400},
    ("Table VIII", "allconv", 1): {(ANY_TARGET, "rate"): 0.2260, ("targeted", "rate"): 0.0341},
    ("Table VIII", "nin", 1): {(ANY_TARGET, "rate"): 0.3520, ("targeted", "rate"): 0.0478},
    ("Table VIII", "vgg16", 1): {(ANY_TARGET, "rate"): 0.3140, ("targeted", "rate"): 0.0563},
    ("ImageNet", "alexnet", 1): {("untargeted", "rate"): 0.1604, ("untargeted", "confidence"): 0.2291},
}
CIFAR_NETS = {"allconv": "AllConv", "nin": "NiN", "vgg16": "VGG16"}


@dataclass(frozen=True)
class PaperMatch:
    """Which of the paper's tables a run sits beside (``table``, ``net``), or why none (``reason``)."""

    table: str | None
    net: str | None
    reason: str = ""

    def figure(self, kind: str, metric: str, pixels: int) -> float | None:
        if self.table is None or self.net is None:
            return None
        table = "Table V" if self.table == "Table IV" and pixels in (3, 5) else self.table
        return PAPER.get((table, self.net, pixels), {}).get((kind, metric))

    def pixels_reason(self, pixels: int) -> str:
        """Why this pixel count has no figure beside it (empty if it has one)."""
        if self.table is None:
            return self.reason
        if not any(self.figure(kind, "rate", pixels) is not None for kind in (ANY_TARGET, "targeted", "untargeted")):
            return f"the paper has no {pixels}-pixel row for {self.net}"
        return ""


def _network(cfg: dict[str, Any]) -> str:
    from pathlib import Path

    return Path(str(cfg.get("model", "?"))).name


def paper_match(cfg: dict[str, Any]) -> PaperMatch:
    """Whether a run's settings (protocol, DE settings, network family, dataset) match a row of the paper."""
    reasons = []
    search = str(cfg.get("search", "de"))
    if search != "de":
        reasons.append(f"search {search}, not the paper's DE")
    else:
        de, paper = upgraded(cfg).get("search_settings") or {}, search_config(DifferentialEvolution.paper())["search_settings"]
        if (de.get("popsize"), de.get("generations")) != (paper["popsize"], paper["generations"]):
            reasons.append(f"DE {de.get('popsize')} × {de.get('generations')}, not the paper's "
                           f"{paper['popsize']} × {paper['generations']}")
        elif de != paper:
            reasons.append("DE variant other than the paper's rand/1, F = 0.5, no crossover")
    if cfg.get("max_queries"):
        reasons.append(f"capped at {int(cfg['max_queries']):,} queries per attack")
    dataset = str(cfg.get("dataset", ""))
    model = str(cfg.get("model", "")).lower()
    if dataset.startswith("cifar10"):
        table = {"paper": "Table IV", "strict": "Table VIII"}.get(str(cfg.get("protocol")))
        net = model if model in CIFAR_NETS else None
        if net is None:
            reasons.append(f"network {_network(cfg)}; the paper attacked AllConv, NiN and VGG16 on CIFAR-10")
        if cfg.get("protocol") == "strict" and cfg.get("mode") == "untargeted":
            reasons.append("the paper's Table VIII counts an image fooled when any of its 9 targeted attacks "
                           "succeeded; this run attacks untargeted directly")
    elif dataset == "imagenet-sample":
        table, net = "ImageNet", "alexnet" if "alexnet" in model else None
        if net is None:
            reasons.append(f"network {_network(cfg)}; the paper's ImageNet figure is for BVLC AlexNet")
        if cfg.get("protocol") != "paper":
            reasons.append("the paper's ImageNet protocol samples random images, misclassified ones included")
    else:
        table, net = None, None
        reasons.append(f"dataset {dataset or '?'}; the paper used CIFAR-10 and ImageNet")
    if reasons or table is None:
        return PaperMatch(None, None, "; ".join(reasons) or "no matching table")
    return PaperMatch(table, net)
