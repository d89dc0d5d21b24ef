// Writes one random Gaussian cloud as INRIA .ply (here, byte by byte), then converts it with PlayCanvas
// splat-transform 3.7 (the real writer) to .spz (format versions 4 and 3), SOG (bundled .sog) and glTF/GLB with
// KHR_gaussian_splatting. Run from the repository root, never at build or test time:
//
//     npm install --prefix /tmp/st @playcanvas/splat-transform@3.7
//     node tools/splat_formats/make_fixtures.mjs /tmp/st/node_modules/.bin/splat-transform OUT_DIR [COUNT]
//
// The cloud sits in front of the default camera (0, 0, 0 looking down +z in the PLY's RDF frame is not what
// handtwin uses; the test renders it with its own cameras), SH degree 1, with scales, rotations and opacities
// spread over their usual ranges. The random generator is a fixed-seed mulberry32, so the file is reproducible.
import { writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const [tool, out, countText] = process.argv.slice(2);
if (!tool || !out) {
    console.error('usage: node make_fixtures.mjs SPLAT_TRANSFORM OUT_DIR [COUNT]');
    process.exit(2);
}
const count = Number(countText ?? 2000);
mkdirSync(out, { recursive: true });

let seed = 0x5eed1234;
const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

const names = ['x', 'y', 'z', 'f_dc_0', 'f_dc_1', 'f_dc_2'];
for (let i = 0; i < 9; i++) names.push(`f_rest_${i}`);
names.push('opacity', 'scale_0', 'scale_1', 'scale_2', 'rot_0', 'rot_1', 'rot_2', 'rot_3');
const header = ['ply', 'format binary_little_endian 1.0', `element vertex ${count}`]
    .concat(names.map((n) => `property float ${n}`))
    .concat(['end_header', ''])
    .join('\n');
const body = new Float32Array(count * names.length);
for (let i = 0; i < count; i++) {
    const row = [];
    // A box 1.2 × 0.8 × 0.6 m around (0, 0, 0).
    row.push((random() - 0.5) * 1.2, (random() - 0.5) * 0.8, (random() - 0.5) * 0.6);
    for (let c = 0; c < 3; c++) row.push(gaussian() * 1.2);
    for (let c = 0; c < 9; c++) row.push(gaussian() * 0.15);
    row.push(gaussian() * 1.5 + 1.0);
    for (let c = 0; c < 3; c++) row.push(Math.log(0.01 + random() * 0.04));
    const q = [gaussian(), gaussian(), gaussian(), gaussian()];
    const n = Math.hypot(...q);
    row.push(...q.map((v) => v / n));
    body.set(row, i * names.length);
}
const ply = join(out, 'cloud.ply');
writeFileSync(ply, Buffer.concat([Buffer.from(header, 'ascii'), Buffer.from(body.buffer)]));
const run = (...args) => execFileSync(tool, ['-q', '-w', ...args], { stdio: 'inherit' });
run(ply, join(out, 'cloud.spz'));
run('--spz-version', '3', ply, join(out, 'cloud_v3.spz'));
// SOG's codebooks are fitted by k-means on a GPU unless told otherwise.
run('-g', 'cpu', ply, join(out, 'cloud.sog'));
run(ply, join(out, 'cloud.glb'));
console.log(`wrote ${count} splats as .ply, .spz (v4, v3), .sog and .glb under ${out}`);
