"""Data: image I/O, folders of images and masks, generated data, splits and augmentation."""
