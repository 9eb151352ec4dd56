"""Datasets: CIFAR-10 (npz, official pickle batches, download), the Kaggle layout and image folders."""

from .cifar10 import CIFAR10_CLASSES, cache_dir, download_cifar10, load_cifar10
from .folders import load_image_folder, load_kaggle

__all__ = ["CIFAR10_CLASSES", "cache_dir", "download_cifar10", "load_cifar10", "load_image_folder", "load_kaggle"]
