"""Datasets: CIFAR-10 (npz, official pickle batches, download), CIFAR-100 (official archive), ImageNet validation
(synset folders or flat + ground truth), the Kaggle layout, image folders and class-folder trees, photo folders
with a labels.csv (the ImageNet sample) and class-name files."""

from .cifar10 import CIFAR10_CLASSES, cache_dir, download_cifar10, load_cifar10
from .cifar100 import load_cifar100
from .datasets import DATASETS, PHOTO_DATASETS, Dataset, load_dataset
from .folders import load_image_folder, load_kaggle, load_photo_tree
from .imagenet import imagenet_synsets, load_imagenet_val
from .labels import imagenet_classes, read_labels, resolve_labels
from .photos import load_imagenet_sample, load_photo_csv

__all__ = ["CIFAR10_CLASSES", "DATASETS", "PHOTO_DATASETS", "Dataset", "cache_dir", "download_cifar10", "imagenet_classes", "imagenet_synsets", "load_cifar10",
           "load_cifar100", "load_dataset", "load_image_folder", "load_imagenet_sample", "load_imagenet_val", "load_kaggle",
           "load_photo_csv", "load_photo_tree", "read_labels", "resolve_labels"]
