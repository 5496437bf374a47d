"""Writes the seed inputs of the checkpoint, interop and celeba fuzz targets.

    python fuzz/seeds/make_seeds.py   # needs torch and safetensors

checkpoint: a manifest of format gen-checkpoint/2 naming a `model` part and
a `notes` part, 0xff, then a burnpack record written by the project's own
code (`--bpk FILE`: the committed seed used the `model.bpk` of a
custom_model example checkpoint).
interop: `nn.Sequential(nn.Linear(3, 2))`'s state dict as safetensors and as
torch.save (zip), and torch.save of {"model": state_dict}.
celeba: a two-row list_attr_celeba.txt, 0xff, its list_eval_partition.txt.
"""

import io
import json
import pathlib
import sys
import zlib

import torch
from safetensors.torch import save

HERE = pathlib.Path(__file__).parent


def main():
    torch.manual_seed(0)
    sd = torch.nn.Sequential(torch.nn.Linear(3, 2)).state_dict()
    (HERE / "interop" / "tiny.safetensors").write_bytes(save(dict(sd)))
    for name, obj in [("tiny.pt", sd), ("tiny-nested.pt", {"model": sd, "step": 3})]:
        buf = io.BytesIO()
        torch.save(obj, buf)
        (HERE / "interop" / name).write_bytes(buf.getvalue())

    attr = "2\nAttr_0 Attr_1\n000001.jpg -1 -1\n000002.jpg  1 -1\n"
    part = "000001.jpg 0\n000002.jpg 1\n"
    (HERE / "celeba" / "two-rows").write_bytes(attr.encode() + b"\xff" + part.encode())

    if "--bpk" in sys.argv:
        bpk = pathlib.Path(sys.argv[sys.argv.index("--bpk") + 1]).read_bytes()
        notes = b'{"seen": 3}'
        manifest = {
            "format": "gen-checkpoint/2",
            "step": 4,
            "rng": None,
            "run_config": None,
            "parts": [
                {"name": "model", "file": "model.bpk", "bytes": len(bpk), "crc32": zlib.crc32(bpk)},
                {"name": "notes", "file": "notes.json", "bytes": len(notes), "crc32": zlib.crc32(notes)},
            ],
        }
        (HERE / "checkpoint" / "tiny").write_bytes(json.dumps(manifest).encode() + b"\xff" + bpk)


if __name__ == "__main__":
    main()
