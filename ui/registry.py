"""The list of ConvLab's pages: the entry script routes from it and the home page draws its cards.

A page is listed here only once it works end to end.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    file: str  # path relative to the repo root
    url_path: str  # stable deep-link path; equal to the file stem (see ui.nav.ensure_navigation)
    title: str
    icon: str
    blurb: str  # one line for the home page card


HOME = PageInfo("pages/home.py", "home", "Home", "🏠", "What ConvLab teaches and where to start.")

LESSONS: tuple[PageInfo, ...] = (
    PageInfo(
        "pages/arithmetic.py", "arithmetic", "Convolution arithmetic", "📐",
        "Kernel, stride, padding, dilation: watch the window slide and the output size follow the formula.",
    ),
    PageInfo(
        "pages/filters.py", "filters", "Filters & kernels", "🔍",
        "Blur, sharpen and edge kernels on real images; one output pixel under the microscope; im2col.",
    ),
    PageInfo(
        "pages/pooling.py", "pooling", "Pooling", "🧮",
        "Max, average, sum and global pooling window by window; shift tolerance; pooling vs strided conv.",
    ),
    PageInfo(
        "pages/data.py", "data", "Look at the data", "🔎",
        "Pixels as numbers, one image as a vector, normalisation, every class at a glance: MNIST, Fashion-MNIST, CIFAR-10.",
    ),
    PageInfo(
        "pages/train.py", "train", "Train a CNN", "🏋️",
        "Build a network layer by layer, train it live on MNIST, then inspect its mistakes and kernels.",
    ),
    PageInfo(
        "pages/draw.py", "draw", "Draw a digit", "✏️",
        "Draw a digit and watch a trained CNN read it: preprocessing step by step, probabilities, feature maps.",
    ),
    PageInfo(
        "pages/network.py", "network", "Inside the network", "🔬",
        "Every layer of a trained CNN for one digit; click any unit to see its arithmetic.",
    ),
)

# Not a lesson: a class activity has no lesson settings to share (its links carry a class and a key).
CLASS_ACTIVITY = PageInfo(
    "pages/classroom.py", "classroom", "Our class's handwriting", "🧑‍🏫",
    "Create a class: everyone draws digits on their phone, and you see how the models read your class.",
)
PAGES: tuple[PageInfo, ...] = (*LESSONS, CLASS_ACTIVITY)  # the menu after Home, in this order
