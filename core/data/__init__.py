"""Datasets: IDX files and MNIST, the registry of datasets, CIFAR-10, verified downloads."""
