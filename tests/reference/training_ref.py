"""NumPy references for the training tests: IDX reading by fixed offsets,
the set of pad-crop-flip candidates of an image, PyTorch-style coupled SGD
weight decay, and the step schedule of a recipe."""

import gzip

import numpy as np


def read_idx_images_ref(path, rows=28, cols=28):
    """Images of an IDX3 file: 16 header bytes, then uint8 pixels."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    return np.frombuffer(raw[16:], np.uint8).reshape(-1, rows, cols)


def read_idx_labels_ref(path):
    """Labels of an IDX1 file: 8 header bytes, then uint8 labels."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    return np.frombuffer(raw[8:], np.uint8)


def crop_flip_candidates_ref(image, padding):
    """Every image reachable by zero padding `padding` pixels, cropping back
    to size and optionally mirroring: a dict `(dy, dx, flip) -> image`."""
    h, w = image.shape[:2]
    padded = np.zeros((h + 2 * padding, w + 2 * padding) + image.shape[2:],
                      image.dtype)
    padded[padding:padding + h, padding:padding + w] = image
    out = {}
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[dy:dy + h, dx:dx + w]
            out[(dy, dx, False)] = crop
            out[(dy, dx, True)] = crop[:, ::-1]
    return out


def match_crop_flip_ref(augmented, original, padding):
    """The `(dy, dx, flip)` keys whose candidate equals `augmented`."""
    return [
        key for key, cand in crop_flip_candidates_ref(original,
                                                      padding).items()
        if np.array_equal(cand, augmented)
    ]


def torch_sgd_step_ref(w, grad, lr, weight_decay):
    """One step of PyTorch's `SGD(lr, weight_decay)` without momentum:
    `w - lr * (grad + weight_decay * w)`."""
    return w - lr * (grad + weight_decay * w)


def multistep_lr_ref(lr, milestone_epochs, epoch, gamma=0.1):
    """PyTorch `MultiStepLR` stepped once per epoch: the rate of `epoch`."""
    return lr * gamma ** sum(epoch >= m for m in milestone_epochs)
