#!/usr/bin/env python3
"""Writes the project behind docs/viewer_candidates_*.png: the bundled room, the reach_for_mug example's camera path
at 240x160x17 (small, so ranking three candidates takes about a minute on a laptop CPU), three candidates whose right
hand ends left of, at, and right of the mug, and a goal image.

    python3 tools/make_candidates_demo.py OUT_DIR
    handtwin render --action OUT_DIR/reach_the_mug.action.json --size 240x160 --frames 17 --out OUT_DIR/goal_sample --stem g
    # goal.png: the static stream's last frame with the hand stream's last frame keyed over it, e.g.
    ffmpeg -sseof -0.2 -i OUT_DIR/goal_sample/videos_static/g.mp4 -update 1 -frames:v 1 OUT_DIR/s.png
    ffmpeg -sseof -0.2 -i OUT_DIR/goal_sample/videos_hands/g.mp4 -update 1 -frames:v 1 OUT_DIR/h.png
    ffmpeg -i OUT_DIR/s.png -i OUT_DIR/h.png -filter_complex "[1]colorkey=black:0.1:0.0[k];[0][k]overlay" OUT_DIR/goal.png
    handtwin --project OUT_DIR/demo.json
"""
import copy
import json
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "candidates-demo")
out.mkdir(parents=True, exist_ok=True)
example = Path(__file__).resolve().parent.parent / "assets" / "examples" / "reach_for_mug.action.json"
action = json.loads(example.read_text())
action["frame_count"] = 17


def variant(dx, dz):
    moved = copy.deepcopy(action)
    for key in moved["right"]["keyframes"][1:]:
        key["wrist_translation"][0] += dx
        key["wrist_translation"][2] += dz
    return moved


candidates = [("reach left", variant(-0.25, 0.05)), ("reach the mug", variant(0.0, 0.0)), ("reach right", variant(0.2, 0.1))]
for name, candidate in candidates:
    (out / (name.replace(" ", "_") + ".action.json")).write_text(json.dumps(candidate, indent=1))
project = {
    "format": "handtwin.project",
    "version": 1,
    "actions": [{"name": "action 1", "action": action}],
    "settings": {"width": 240, "height": 160, "frame_count": 17, "fps": 8.0, "horizontal_fov_degrees": 90.0},
    "candidates": [{"name": name, "action": candidate} for name, candidate in candidates],
    "goal": "goal.png",
}
(out / "demo.json").write_text(json.dumps(project, indent=1))
print(f"wrote {out / 'demo.json'} and three candidate actions")
