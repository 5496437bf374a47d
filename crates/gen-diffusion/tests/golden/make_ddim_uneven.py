"""DDIM at a training length that is not a multiple of the sampling steps.

Writes ddim-uneven.json: diffusers' DDIMScheduler (trailing spacing,
linear betas, clip_sample=False, set_alpha_to_one=True, steps_offset=0)
with num_train_timesteps=500 and 7 steps, for each prediction type and
eta 0 / 1: its timesteps, the timestep each step lands on (t - T // n, as
DDIMScheduler.step computes it) and every prev_sample of the loop that
starts at x and feeds model_output (variance_noise = noise when eta = 1),
with the x / model_output / noise of diffusers-schedulers.json.

    python make_ddim_uneven.py            # rewrites ddim-uneven.json
    python make_ddim_uneven.py --check    # compares with the file

Needs torch and diffusers (0.42.1 made the committed file).
"""

import json
import pathlib
import sys

import diffusers
import torch
from diffusers import DDIMScheduler

HERE = pathlib.Path(__file__).parent
T, N = 500, 7


def compute():
    base = json.loads((HERE / "diffusers-schedulers.json").read_text())
    shape = base["shape"]
    x0 = torch.tensor(base["x"], dtype=torch.float32).reshape(shape)
    out = torch.tensor(base["model_output"], dtype=torch.float32).reshape(shape)
    noise = torch.tensor(base["noise"], dtype=torch.float32).reshape(shape)
    result = {
        "source": f"diffusers {diffusers.__version__}, torch {torch.__version__}",
        "num_train_timesteps": T,
        "steps": N,
        "spacing": "trailing",
        "beta_schedule": "linear",
        "ddim": {},
    }
    for prediction in ["epsilon", "v_prediction", "sample"]:
        for eta in [0, 1]:
            s = DDIMScheduler(
                num_train_timesteps=T,
                beta_schedule="linear",
                timestep_spacing="trailing",
                prediction_type=prediction,
                clip_sample=False,
            )
            s.set_timesteps(N)
            timesteps = [int(t) for t in s.timesteps]
            result["timesteps"] = timesteps
            result["landing"] = [t - T // N for t in timesteps]
            x = x0.clone()
            samples = []
            for t in s.timesteps:
                kwargs = {"variance_noise": noise} if eta else {}
                x = s.step(out, t, x, eta=float(eta), **kwargs).prev_sample
                samples.append([float(v) for v in x.flatten()])
            result["ddim"][f"{prediction}/eta{eta}"] = samples
    return result


def main():
    path = HERE / "ddim-uneven.json"
    result = compute()
    if "--check" in sys.argv:
        old = json.loads(path.read_text())
        for key, samples in result["ddim"].items():
            worst = max(
                abs(a - b) for s, o in zip(samples, old["ddim"][key]) for a, b in zip(s, o)
            )
            print(f"{key}: largest difference {worst:.2e}")
        assert result["timesteps"] == old["timesteps"] and result["landing"] == old["landing"]
        return
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
