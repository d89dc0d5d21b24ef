#!/usr/bin/env python3
"""Reference fixtures for handtwin's MANO forward model, evaluated by the `smplx` package.

A random MANO-shaped model (random template, shape and pose blend shapes, joint regressor, skinning weights, MANO's
kinematic tree, PCA basis and mean) is written in MANO's array layout, then posed by smplx for a set of inputs that
covers axis-angle, PCA with and without flat_hand_mean, rotation matrices (smplx's own `lbs` with
pose2rot=False, as smplx's MANO class only takes axis-angle) and a left hand (the model mirrored across x = 0,
faces rewound, shape and pose blend shapes and PCA basis mirrored). No MANO data is used: the model is random.

    pip install torch smplx numpy
    python tools/make_mano_fixtures.py --out tests/fixtures/mano

Writes `random_right.npz` (the model), `cases.json` (inputs) and `expected.npz` (`<case>_vertices` (778, 3),
`<case>_joints` (16, 3), float64 from a float64 smplx run).
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import smplx
from smplx.lbs import lbs
from smplx.utils import Struct

V = 778
PARENTS = [0, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]


def random_model(rng):
    """A random model with MANO's shapes. Weights are a softmax over distances so skinning is smooth."""
    template = rng.normal(size=(V, 3)) * 0.04
    faces = np.stack([rng.permutation(V)[:3] for _ in range(1538)]).astype(np.int64)
    shapedirs = rng.normal(size=(V, 3, 10)) * 0.003
    posedirs = rng.normal(size=(V, 3, 135)) * 0.002
    regressor = np.zeros((16, V))
    for j in range(16):
        idx = rng.choice(V, size=8, replace=False)
        w = rng.uniform(0.2, 1.0, size=8)
        regressor[j, idx] = w / w.sum()
    joints = regressor @ template
    d = ((template[:, None, :] - joints[None, :, :]) ** 2).sum(-1)
    weights = np.exp(-d / 0.0005)
    weights += 1e-3
    weights /= weights.sum(1, keepdims=True)
    kintree = np.array([[4294967295] + PARENTS[1:], list(range(16))], dtype=np.int64)
    components = rng.normal(size=(45, 45)) * 0.4
    mean = rng.normal(size=45) * 0.2
    return dict(
        v_template=template, f=faces, shapedirs=shapedirs, posedirs=posedirs,
        J_regressor=regressor, weights=weights, kintree_table=kintree,
        hands_components=components, hands_mean=mean,
    )


def mirrored(model):
    """The left-hand model of a right-hand one (what handtwin's ManoModel::mirrored computes)."""
    m = np.array([-1.0, 1.0, 1.0])
    out = dict(model)
    out["v_template"] = model["v_template"] * m
    out["f"] = model["f"][:, [0, 2, 1]]
    out["shapedirs"] = model["shapedirs"] * m[None, :, None]
    sign = np.zeros((3, 135))
    for c in range(3):
        for p in range(135):
            a, b = (p % 9) // 3, (p % 9) % 3
            sign[c, p] = m[c] * m[a] * m[b]
    out["posedirs"] = model["posedirs"] * sign[None]
    flip = np.tile([1.0, -1.0, -1.0], 15)
    out["hands_components"] = model["hands_components"] * flip[None]
    out["hands_mean"] = model["hands_mean"] * flip
    return out


def smplx_mano(model, is_rhand, use_pca, num_pca_comps, flat_hand_mean):
    data = Struct(**{k: v for k, v in model.items()})
    return smplx.MANO(
        model_path=None, data_struct=data, is_rhand=is_rhand, use_pca=use_pca,
        num_pca_comps=num_pca_comps, flat_hand_mean=flat_hand_mean, dtype=torch.float64,
        num_betas=10,
    )


def rodrigues(r):
    r = torch.as_tensor(r, dtype=torch.float64).reshape(-1, 3)
    return smplx.lbs.batch_rodrigues(r)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    right = random_model(rng)
    left = mirrored(right)
    np.savez(
        args.out / "random_right.npz",
        **{k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in right.items()},
    )
    # The reference evaluates the float32 model the Rust side reads, in float64.
    stored = dict(np.load(args.out / "random_right.npz"))
    right = {k: (v.astype(np.float64) if v.dtype.kind == "f" else v) for k, v in stored.items()}
    left = mirrored(right)

    cases, expected = [], {}

    def add(name, side, model, kind, global_orient, betas, transl, **pose):
        go = torch.tensor([global_orient], dtype=torch.float64)
        b = torch.tensor([betas], dtype=torch.float64)
        t = torch.tensor([transl], dtype=torch.float64)
        if kind == "matrices":
            mats = rodrigues(pose["matrices_from_axis_angle"]).reshape(1, 15, 3, 3)
            full = torch.cat([rodrigues(go).reshape(1, 1, 3, 3), mats], dim=1)
            data = Struct(**model)
            layer = smplx_mano(model, side == "right", False, 45, True)
            verts, joints = lbs(b, full, layer.v_template, layer.shapedirs, layer.posedirs,
                                layer.J_regressor, layer.parents, layer.lbs_weights, pose2rot=False)
            verts, joints = verts + t[:, None], joints + t[:, None]
            case = dict(matrices=[m.tolist() for m in mats[0].numpy()])
            del data
        else:
            if kind == "axis_angle":
                layer = smplx_mano(model, side == "right", False, 45, pose["flat_hand_mean"])
                hand = torch.tensor([pose["hand_pose"]], dtype=torch.float64)
                case = dict(hand_pose=pose["hand_pose"], flat_hand_mean=pose["flat_hand_mean"])
            else:
                n = len(pose["pca"])
                layer = smplx_mano(model, side == "right", True, n, pose["flat_hand_mean"])
                hand = torch.tensor([pose["pca"]], dtype=torch.float64)
                case = dict(pca=pose["pca"], flat_hand_mean=pose["flat_hand_mean"])
            out = layer(global_orient=go, hand_pose=hand, betas=b, transl=t)
            verts, joints = out.vertices, out.joints
        case.update(name=name, side=side, kind=kind, global_orient=global_orient, betas=betas,
                    transl=transl)
        cases.append(case)
        expected[f"{name}_vertices"] = verts[0].detach().numpy()
        expected[f"{name}_joints"] = joints[0].detach().numpy()

    def r(n, scale):
        return (rng.normal(size=n) * scale).tolist()

    add("zero", "right", right, "axis_angle", [0.0] * 3, [0.0] * 10, [0.0] * 3,
        hand_pose=[0.0] * 45, flat_hand_mean=True)
    for i in range(3):
        add(f"axis_angle_{i}", "right", right, "axis_angle", r(3, 1.0), r(10, 1.0), r(3, 0.1),
            hand_pose=r(45, 0.6), flat_hand_mean=True)
    add("axis_angle_from_mean", "right", right, "axis_angle", r(3, 1.0), r(10, 1.0), r(3, 0.1),
        hand_pose=r(45, 0.4), flat_hand_mean=False)
    add("pca_6_mean", "right", right, "pca", r(3, 1.0), r(10, 1.0), r(3, 0.1),
        pca=r(6, 1.0), flat_hand_mean=False)
    add("pca_12_flat", "right", right, "pca", r(3, 1.0), r(10, 1.0), r(3, 0.1),
        pca=r(12, 1.0), flat_hand_mean=True)
    add("pca_30_mean", "right", right, "pca", r(3, 1.0), r(10, 1.0), r(3, 0.1),
        pca=r(30, 0.5), flat_hand_mean=False)
    add("matrices", "right", right, "matrices", r(3, 1.0), r(10, 1.0), r(3, 0.1),
        matrices_from_axis_angle=r(45, 1.0))
    add("left_axis_angle", "left", left, "axis_angle", r(3, 1.0), r(10, 1.0), r(3, 0.1),
        hand_pose=r(45, 0.6), flat_hand_mean=True)
    add("left_pca_6_mean", "left", left, "pca", r(3, 1.0), r(10, 1.0), r(3, 0.1),
        pca=r(6, 1.0), flat_hand_mean=False)

    (args.out / "cases.json").write_text(json.dumps({"cases": cases}, indent=1))
    np.savez(args.out / "expected.npz", **expected)
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
