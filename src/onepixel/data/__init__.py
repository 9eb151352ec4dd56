"""Datasets: CIFAR-10 (npz, official pickle batches, download), the Kaggle layout, image folders, photo folders
with a labels.csv (the ImageNet sample) and class-name files."""

from .cifar10 import CIFAR10_CLASSES, cache_dir, download_cifar10, load_cifar10
from .folders import load_image_folder, load_kaggle
from .labels import imagenet_classes, read_labels, resolve_labels
from .photos import load_imagenet_sample, load_photo_csv

__all__ = ["CIFAR10_CLASSES", "cache_dir", "download_cifar10", "imagenet_classes", "load_cifar10", "load_image_folder",
           "load_imagenet_sample", "load_kaggle", "load_photo_csv", "read_labels", "resolve_labels"]
